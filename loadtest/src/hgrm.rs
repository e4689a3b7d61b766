//! The HdrHistogram percentile distribution as text (`.hgrm`).
//!
//! The same layout as Java HdrHistogram's `outputPercentileDistribution` (and
//! wrk2's `--u_latency`), so the files load into the usual plotters
//! (HdrHistogram's `plotFiles.html`): a header, one row per percentile step,
//! five steps per halving of the distance to 100%, then a footer with mean,
//! standard deviation, max, count and the histogram's shape.

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// Percentile steps per halving of the distance to 100% (HdrHistogram's default).
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Writes `histogram` with its values divided by `scale` (1000.0 turns recorded
/// microseconds into milliseconds), with as many decimals as the histogram has
/// significant digits.
pub fn write(histogram: &Histogram<u64>, scale: f64, out: &mut impl Write) -> io::Result<()> {
    let decimals = usize::from(histogram.sigfig());
    writeln!(out, "{:>12} {:>14} {:>10} {:>14}", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")?;
    writeln!(out)?;
    let mut total_count = 0_u64;
    for step in histogram.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total_count += step.count_since_last_iteration();
        let value = scaled(step.value_iterated_to(), scale);
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            let inverse = 1.0 / (1.0 - quantile);
            writeln!(out, "{value:>12.decimals$} {quantile:>2.12} {total_count:>10} {inverse:>14.2}")?;
        } else {
            writeln!(out, "{value:>12.decimals$} {quantile:>2.12} {total_count:>10}")?;
        }
    }
    let mean = histogram.mean() / scale;
    let stdev = histogram.stdev() / scale;
    let max = scaled(histogram.max(), scale);
    writeln!(out, "#[Mean    = {mean:>12.decimals$}, StdDeviation   = {stdev:>12.decimals$}]")?;
    writeln!(out, "#[Max     = {max:>12.decimals$}, Total count    = {:>12}]", histogram.len())?;
    writeln!(out, "#[Buckets = {:>12}, SubBuckets     = {:>12}]", histogram.buckets(), sub_buckets(histogram.sigfig()))
}

/// `value / scale`; recorded values stay far below 2^53, where `u64 -> f64` is exact.
fn scaled(value: u64, scale: f64) -> f64 {
    value as f64 / scale
}

/// Sub-buckets per bucket: the power of two that holds `2 * 10^sigfig` (HdrHistogram's layout).
fn sub_buckets(sigfig: u8) -> u64 {
    (2 * 10_u64.pow(u32::from(sigfig))).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(histogram: &Histogram<u64>) -> String {
        let mut out = Vec::new();
        write(histogram, 1000.0, &mut out).expect("write to memory");
        String::from_utf8(out).expect("utf-8")
    }

    /// (value, percentile, total count) of each row.
    fn rows(text: &str) -> Vec<(f64, f64, u64)> {
        text.lines()
            .skip(2)
            .take_while(|line| !line.starts_with('#'))
            .map(|line| {
                let columns: Vec<&str> = line.split_whitespace().collect();
                (
                    columns[0].parse().expect("value"),
                    columns[1].parse().expect("percentile"),
                    columns[2].parse().expect("count"),
                )
            })
            .collect()
    }

    #[test]
    fn the_distribution_has_the_hgrm_header_rows_and_footer() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("histogram");
        for latency_us in 1..=10_000 {
            histogram.record(latency_us * 7).expect("record");
        }
        let text = render(&histogram);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("       Value     Percentile TotalCount 1/(1-Percentile)"));
        assert_eq!(lines.next(), Some(""));
        let rows = rows(&text);
        assert!(rows.len() > 20, "{} rows", rows.len());
        for pair in rows.windows(2) {
            assert!(pair[1].0 >= pair[0].0, "values never decrease: {pair:?}");
            assert!(pair[1].1 > pair[0].1, "percentiles increase: {pair:?}");
            assert!(pair[1].2 >= pair[0].2, "counts never decrease: {pair:?}");
        }
        assert_eq!(rows.last().map(|row| (row.1, row.2)), Some((1.0, 10_000)));
        assert!(text.lines().any(|line| line.starts_with("#[Mean    =")));
        assert!(text.contains("Total count    =        10000]"));
        assert!(text.contains("SubBuckets     =         2048]"));
        let first_row = text.lines().nth(2).expect("a row");
        assert_eq!(first_row.split_whitespace().count(), 4);
        let last_row = text.lines().rfind(|line| !line.starts_with('#')).expect("a row");
        assert_eq!(last_row.split_whitespace().count(), 3, "the 100% row has no 1/(1-p)");
    }

    #[test]
    fn an_empty_histogram_has_only_header_and_footer() {
        let histogram = Histogram::<u64>::new(3).expect("histogram");
        let text = render(&histogram);
        assert_eq!(text.lines().count(), 5);
        assert!(text.contains("Total count    =            0]"));
    }
}

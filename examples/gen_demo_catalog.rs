//! Generates the demo catalog the server loads when its data directory is empty.
//!
//! Usage: `cargo run --example gen_demo_catalog -- snapshots/`
//!
//! Writes `demo-catalog.ndjson` (one product per line, in the HTTP API shape) and
//! `warehouses.json` into the given directory. The output is fully determined by
//! `SEED` and the vocabulary tables below: running it twice yields identical bytes.
//! Every brand, seller, author and product in the output is invented.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::seq::index;
use rand::{Rng, SeedableRng};
use serde::Serialize;

const SEED: u64 = 0x6d65_7263_6174_6f01;
const FIRST_ID: usize = 1000;
const SPONSORED_COUNT: usize = 6;
const MAX_SKU_LEN: usize = 64;
const MAX_REVIEWS: f64 = 50_000.0;
const MAX_QUANTITY: f64 = 2000.0;

const WAREHOUSE_IDS: [&str; 3] = ["W-EAST", "W-CENTRAL", "W-WEST"];
const FIRST_PARTY_SELLER: &str = "mercato";
const THIRD_PARTY_SELLERS: &[&str] =
    &["seller-northwind", "seller-bluepeak", "seller-harborline", "seller-copperleaf", "seller-meridian"];

const AUTHOR_FIRST: &[&str] = &[
    "Eleanor", "Marcus", "Priya", "Tomas", "Hannah", "Julian", "Amara", "Declan", "Sofia", "Raymond", "Ines", "Calvin",
    "Maya", "Theo", "Lucia", "Gideon", "Naomi", "Felix", "Rosalind", "Omar",
];
const AUTHOR_LAST: &[&str] = &[
    "Hartwell", "Okafor", "Lind", "Moretti", "Ashby", "Castro", "Whitaker", "Nakamura", "Byrne", "Devereux", "Fenwick",
    "Ramires", "Sorensen", "Quill", "Abbott", "Vance", "Mbeki", "Holloway", "Petrov", "Calloway",
];

/// Words kept capitalised when a product noun appears mid-sentence.
const PROPER_WORDS: &[&str] = &["Earl", "Grey", "English"];

/// An option value with its price and weight relative to the product's base, in percent.
type Opt = (&'static str, u32, u32);
/// An attribute key and the values a product may take for it.
type Attr = (&'static str, &'static [&'static str]);

const TECH_COLORS: &[&str] = &["Black", "White", "Silver", "Space Gray", "Navy Blue", "Rose Gold", "Forest Green"];
const HOME_COLORS: &[&str] = &["Black", "Stainless Steel", "White", "Cherry Red", "Sage Green", "Cream"];
const APPAREL_COLORS: &[&str] =
    &["Black", "White", "Heather Gray", "Navy", "Olive", "Burgundy", "Sky Blue", "Charcoal"];
const SOFT_COLORS: &[&str] = &["White", "Ivory", "Light Gray", "Sage", "Navy", "Blush", "Teal", "Coral"];
const SHIRT_SIZES: &[Opt] = &[("S", 100, 90), ("M", 100, 100), ("L", 100, 110), ("XL", 100, 120), ("XXL", 108, 130)];
const LEGGING_SIZES: &[Opt] = &[("XS", 100, 90), ("S", 100, 95), ("M", 100, 100), ("L", 100, 105), ("XL", 100, 110)];
const SHOE_SIZES: &[Opt] = &[
    ("7", 100, 92),
    ("7.5", 100, 94),
    ("8", 100, 96),
    ("8.5", 100, 98),
    ("9", 100, 100),
    ("9.5", 100, 102),
    ("10", 100, 104),
    ("10.5", 100, 106),
    ("11", 100, 108),
    ("12", 100, 112),
];
const BED_SIZES: &[Opt] =
    &[("Twin", 100, 100), ("Full", 115, 115), ("Queen", 130, 125), ("King", 150, 140), ("California King", 150, 140)];

/// One option of one variant, with its effect on the product's base price and weight.
struct Choice {
    key: &'static str,
    value: &'static str,
    price_pct: u32,
    weight_pct: u32,
}

impl Choice {
    fn color(value: &'static str) -> Self {
        Choice { key: "color", value, price_pct: 100, weight_pct: 100 }
    }

    fn option(key: &'static str, (value, price_pct, weight_pct): &Opt) -> Self {
        Choice { key, value, price_pct: *price_pct, weight_pct: *weight_pct }
    }
}

/// How a product's variants are laid out.
enum Variants {
    /// One variant without options.
    Single,
    /// One or more colours; the number is the percent chance of more than one.
    Colors(&'static [&'static str], u32),
    /// A run of consecutive values of one option; the number is the percent chance of more than one.
    Options(&'static str, &'static [Opt], u32),
    /// A grid of consecutive sizes times a few colours.
    SizeColor(&'static [Opt], &'static [&'static str]),
}

/// How a title is put together.
enum Style {
    /// "{brand} {adjective} {noun}, {spec}"
    Product,
    /// "[The ]{adjective} {noun}[: {subtitle}]" with the brand as publisher and a generated author.
    Book,
}

/// One leaf of the category tree with the vocabulary used for its products.
struct Leaf {
    path: [&'static str; 3],
    /// Number of products generated for this leaf.
    count: usize,
    style: Style,
    brands: &'static [&'static str],
    adjectives: &'static [&'static str],
    nouns: &'static [&'static str],
    /// Title suffixes (subtitles for books); may reference `{attribute}` keys.
    specs: &'static [&'static str],
    attrs: &'static [Attr],
    /// First sentence of the description; may reference `{brand}`, `{noun}`, `{title}` and attributes.
    intros: &'static [&'static str],
    /// Zero to two of these follow the intro.
    details: &'static [&'static str],
    /// Base price range in whole dollars; prices end in .99.
    dollars: (u32, u32),
    /// Base shipping weight range in grams.
    grams: (u32, u32),
    /// "standard", "reduced" (food, books) or "zero".
    tax: &'static str,
    variants: Variants,
}

const LEAVES: &[Leaf] = &[
    Leaf {
        path: ["Electronics", "Audio", "Headphones"],
        count: 30,
        style: Style::Product,
        brands: &["AudioTech", "Sonara", "Keywave", "Hushline", "Brightnote"],
        adjectives: &[
            "Wireless Noise-Cancelling",
            "Pro Wireless",
            "Bluetooth",
            "Lightweight Wireless",
            "Studio",
            "Foldable",
        ],
        nouns: &["Headphones", "Over-Ear Headphones", "On-Ear Headphones"],
        specs: &["{battery_life} Battery", "{connectivity}", "Built-in Mic, {battery_life} Playtime", "Hi-Res Audio"],
        attrs: &[
            ("connectivity", &["Bluetooth 5.0", "Bluetooth 5.2", "Bluetooth 5.3"]),
            ("battery_life", &["20h", "24h", "30h", "36h", "40h", "60h"]),
            ("noise_cancelling", &["Active", "Hybrid Active", "Passive"]),
        ],
        intros: &[
            "{brand} {noun} deliver up to {battery_life} of listening on a single charge over {connectivity}.",
            "Block out the commute with {noise_cancelling} noise cancelling and a balanced, detailed sound.",
            "These {noun} pair in seconds over {connectivity} and last {battery_life} between charges.",
        ],
        details: &[
            "Memory-foam cushions and a light frame keep them comfortable for hours.",
            "A ten-minute charge adds about three hours of playback.",
            "Dual microphones keep calls clear, even on windy streets.",
            "Multipoint pairing switches between your laptop and phone automatically.",
        ],
        dollars: (29, 349),
        grams: (180, 340),
        tax: "standard",
        variants: Variants::Colors(TECH_COLORS, 70),
    },
    Leaf {
        path: ["Electronics", "Audio", "Speakers"],
        count: 22,
        style: Style::Product,
        brands: &["Sonara", "Boomcraft", "Tidewater Audio", "Pulsebox", "AudioTech"],
        adjectives: &["Portable Bluetooth", "Waterproof", "Smart", "Outdoor Rugged", "Compact Wireless"],
        nouns: &["Speaker", "Mini Speaker", "Party Speaker"],
        specs: &["{battery_life} Playtime", "{water_resistance}, {battery_life} Playtime", "{output} Output"],
        attrs: &[
            ("connectivity", &["Bluetooth 5.0", "Bluetooth 5.3", "Wi-Fi + Bluetooth"]),
            ("battery_life", &["10h", "12h", "16h", "20h", "24h"]),
            ("water_resistance", &["IPX5", "IPX7", "IP67"]),
            ("output", &["10W", "20W", "30W", "60W", "120W"]),
        ],
        intros: &[
            "The {brand} {noun} fills a room with {output} of clear, punchy sound.",
            "Take the music anywhere: this {noun} runs {battery_life} on a charge and is rated {water_resistance}.",
            "Stream over {connectivity} and pair two units for true stereo.",
        ],
        details: &[
            "A built-in microphone doubles as a speakerphone.",
            "The fabric shell shrugs off sand, splashes and the occasional drop.",
            "USB-C charging means one cable for your phone and your speaker.",
        ],
        dollars: (25, 399),
        grams: (300, 3200),
        tax: "standard",
        variants: Variants::Colors(TECH_COLORS, 60),
    },
    Leaf {
        path: ["Electronics", "Computers", "Laptops"],
        count: 20,
        style: Style::Product,
        brands: &["Northbyte", "Vantix", "Corelight", "Altura Systems"],
        adjectives: &["Ultrathin", "Business", "Creator", "Gaming", "2-in-1 Touchscreen", "Everyday"],
        nouns: &["Laptop", "Notebook", "Ultrabook"],
        specs: &["{screen} Display, {memory} RAM", "{processor}, {memory} RAM", "{screen}, {battery_life} Battery"],
        attrs: &[
            ("screen", &["13.3-inch", "14-inch", "15.6-inch", "16-inch"]),
            ("processor", &["8-Core", "10-Core", "12-Core", "16-Core"]),
            ("memory", &["8GB", "16GB", "32GB"]),
            ("battery_life", &["10h", "12h", "15h", "18h"]),
            ("operating_system", &["Windows 11", "Linux", "ChromeOS"]),
        ],
        intros: &[
            "The {brand} {noun} pairs a {processor} processor with {memory} of memory for smooth multitasking.",
            "A bright {screen} display and up to {battery_life} of battery make this {noun} an all-day machine.",
            "Built for work on the go, this {noun} ships with {operating_system} and a backlit keyboard.",
        ],
        details: &[
            "Two USB-C ports, HDMI and a headphone jack cover most desks without a dongle.",
            "A 1080p webcam with a privacy shutter sits above the screen.",
            "The aluminium chassis weighs less than many tablets with keyboards.",
        ],
        dollars: (449, 2199),
        grams: (1100, 2500),
        tax: "standard",
        variants: Variants::Options(
            "storage",
            &[("256GB", 100, 100), ("512GB", 112, 100), ("1TB", 128, 100), ("2TB", 150, 100)],
            70,
        ),
    },
    Leaf {
        path: ["Electronics", "Wearables", "Smartwatches"],
        count: 16,
        style: Style::Product,
        brands: &["Pulsewear", "Tempo Labs", "Orbita", "Northbyte"],
        adjectives: &["Fitness", "GPS Sport", "Classic", "Active", "Outdoor Adventure"],
        nouns: &["Smartwatch", "Smart Watch", "Fitness Watch"],
        specs: &["{case_size} Case", "{battery_life} Battery, {water_resistance}", "Heart Rate & Sleep Tracking"],
        attrs: &[
            ("case_size", &["40mm", "42mm", "44mm", "46mm"]),
            ("battery_life", &["2-Day", "5-Day", "7-Day", "14-Day"]),
            ("water_resistance", &["5 ATM", "10 ATM"]),
            ("gps", &["Built-in", "Connected"]),
        ],
        intros: &[
            "Track runs, rides and sleep with the {brand} {noun}, rated {water_resistance} for the pool.",
            "This {noun} offers {battery_life:lower} battery life and keeps notifications on your wrist.",
            "A {case_size} always-on display shows heart rate, steps and messages at a glance.",
        ],
        details: &[
            "Over 100 workout modes are recognised automatically.",
            "Swap bands in seconds with the quick-release pins.",
            "Contactless payments work without your phone nearby.",
        ],
        dollars: (79, 449),
        grams: (30, 65),
        tax: "standard",
        variants: Variants::Colors(TECH_COLORS, 60),
    },
    Leaf {
        path: ["Home & Kitchen", "Kitchen", "Cookware"],
        count: 22,
        style: Style::Product,
        brands: &["Hearthstone", "Copperline", "IronRidge", "Maison Verde", "Brightpan"],
        adjectives: &["Professional", "Everyday", "Heavy-Gauge", "Chef's", "Classic", "Deep"],
        nouns: &["Frying Pan", "Skillet", "Saute Pan", "Grill Pan"],
        specs: &["Oven Safe to {oven_safe}", "{material}", "{material}, Oven Safe to {oven_safe}"],
        attrs: &[
            ("material", &["Cast Iron", "Stainless Steel", "Aluminum", "Carbon Steel", "Ceramic-Coated Aluminum"]),
            ("oven_safe", &["400F", "450F", "500F", "600F"]),
            ("lid", &["Included", "Not Included"]),
        ],
        intros: &[
            "The {brand} {noun} heats evenly and is oven safe to {oven_safe}.",
            "From morning eggs to seared steaks, this {material:lower} {noun} handles everyday cooking.",
            "A long, comfortable handle and a flared rim make this {noun} easy to toss, pour and serve from.",
        ],
        details: &[
            "Hand washing with warm soapy water keeps the surface in top shape.",
            "The riveted handle stays sturdy through years of daily use.",
            "Works on gas, electric and ceramic cooktops.",
        ],
        dollars: (19, 189),
        grams: (700, 1800),
        tax: "standard",
        variants: Variants::Options("size", &[("8-inch", 100, 100), ("10-inch", 120, 130), ("12-inch", 145, 165)], 50),
    },
    Leaf {
        path: ["Home & Kitchen", "Kitchen", "Small Appliances"],
        count: 22,
        style: Style::Product,
        brands: &["Kitchora", "Zestly", "Brightpan", "Honeyfield Home"],
        adjectives: &["Digital", "Compact", "Programmable", "High-Speed", "Smart", "Retro"],
        nouns: &["Blender", "Toaster", "Electric Kettle", "Air Fryer", "Drip Coffee Maker", "Rice Cooker"],
        specs: &["{wattage}", "{warranty} Warranty", "{wattage}, {warranty} Warranty"],
        attrs: &[
            ("wattage", &["800W", "1000W", "1200W", "1500W", "1700W"]),
            ("voltage", &["120V"]),
            ("warranty", &["1-Year", "2-Year", "3-Year"]),
        ],
        intros: &[
            "The {brand} {noun} puts {wattage} of power on your countertop.",
            "This {noun} comes with a {warranty:lower} warranty and cleans up in minutes.",
            "A simple, reliable {noun} with one-touch presets for everyday use.",
        ],
        details: &[
            "Removable parts are dishwasher safe.",
            "Auto shut-off adds peace of mind on busy mornings.",
            "The compact footprint fits under standard cabinets.",
        ],
        dollars: (29, 249),
        grams: (1200, 6000),
        tax: "standard",
        variants: Variants::Colors(HOME_COLORS, 50),
    },
    Leaf {
        path: ["Home & Kitchen", "Bedding", "Sheets"],
        count: 18,
        style: Style::Product,
        brands: &["Cloudnest", "Linenry", "Dreamhaven", "Harbor & Loom"],
        adjectives: &["Cooling", "Luxury", "Breathable", "Wrinkle-Resistant", "Hotel Collection", "Everyday"],
        nouns: &["Sheet Set", "Bed Sheet Set", "Deep Pocket Sheet Set"],
        specs: &["{thread_count} Thread Count", "{material}, {pocket_depth} Pockets", "4-Piece"],
        attrs: &[
            ("material", &["Cotton Percale", "Cotton Sateen", "Linen", "Bamboo Lyocell", "Microfiber"]),
            ("thread_count", &["300", "400", "600", "800"]),
            ("pocket_depth", &["15-inch", "16-inch", "18-inch"]),
        ],
        intros: &[
            "The {brand} {noun} is woven from breathable {material:lower} for cool, restful nights.",
            "Soft from the first wash, this {noun} includes a flat sheet, fitted sheet and two pillowcases.",
            "Elastic all around and {pocket_depth} pockets keep the fitted sheet in place on thick mattresses.",
        ],
        details: &[
            "Gets softer with every wash.",
            "Machine washable and tumble dry low.",
            "OEKO-TEX certified fabric.",
        ],
        dollars: (29, 149),
        grams: (900, 2000),
        tax: "standard",
        variants: Variants::SizeColor(BED_SIZES, SOFT_COLORS),
    },
    Leaf {
        path: ["Grocery", "Pantry", "Coffee"],
        count: 30,
        style: Style::Product,
        brands: &[
            "Ridgeback Roasters",
            "Morning Ember",
            "Copper Kettle Coffee",
            "Blue Mesa Roasting",
            "Hightide Coffee Co.",
        ],
        adjectives: &["Fresh-Roasted", "Organic", "Small-Batch", "Fair Trade", "Signature", "Estate"],
        nouns: &["Coffee", "Breakfast Blend", "Morning Coffee"],
        specs: &["{roast} Roast, {form}", "{origin}, {roast} Roast", "{form}"],
        attrs: &[
            ("roast", &["Light", "Medium", "Medium-Dark", "Dark"]),
            ("origin", &["Colombia", "Ethiopia", "Guatemala", "Sumatra", "Brazil", "Costa Rica", "Honduras"]),
            ("form", &["Whole Bean", "Ground"]),
        ],
        intros: &[
            "A {roast:lower} roast from {origin} with notes of cocoa, caramel and toasted nuts.",
            "{brand} roasts this {noun} in small batches and ships it within days of roasting.",
            "Smooth and balanced, this {roast:lower} roast works for drip, pour-over and French press.",
        ],
        details: &[
            "Packed in a resealable bag with a one-way valve to keep it fresh.",
            "Sourced directly from partner farms.",
            "Best enjoyed within four weeks of opening.",
        ],
        dollars: (9, 22),
        grams: (360, 390),
        tax: "reduced",
        variants: Variants::Options("size", &[("12oz", 100, 100), ("2lb", 230, 260), ("5lb", 520, 640)], 35),
    },
    Leaf {
        path: ["Grocery", "Pantry", "Tea"],
        count: 18,
        style: Style::Product,
        brands: &["Leaf & Lantern", "Stillwater Tea", "Jade Terrace", "Morning Ember"],
        adjectives: &["Organic", "Loose-Leaf Style", "Premium", "Classic", "Everyday"],
        nouns: &["Green Tea", "Earl Grey Tea", "Chamomile Tea", "English Breakfast Tea", "Peppermint Tea", "Chai"],
        specs: &["Individually Wrapped", "{origin}", "{bag_style}"],
        attrs: &[
            ("origin", &["Sri Lanka", "India", "China", "Kenya", "Nepal"]),
            ("bag_style", &["Classic Tea Bags", "Pyramid Sachets"]),
            ("steep_time", &["2-3 min", "3-5 min", "5-7 min"]),
        ],
        intros: &[
            "{brand} {noun} brews a bright, fragrant cup in three to five minutes.",
            "Whole leaves from {origin} give this {noun} a full, clean flavour.",
            "A calming everyday {noun} that steeps in {steep_time}.",
        ],
        details: &["Enjoy it hot or poured over ice.", "Plastic-free tea bags.", "Sealed for freshness."],
        dollars: (4, 16),
        grams: (50, 90),
        tax: "reduced",
        variants: Variants::Options(
            "count",
            &[("20 bags", 100, 100), ("50 bags", 210, 240), ("100 bags", 380, 470)],
            30,
        ),
    },
    Leaf {
        path: ["Grocery", "Snacks", "Nuts & Trail Mix"],
        count: 18,
        style: Style::Product,
        brands: &["Trailhand", "Golden Acre", "Sunny Ridge Farms", "Nutwise"],
        adjectives: &["Roasted & Salted", "Raw", "Honey Roasted", "Unsalted", "Sweet & Salty"],
        nouns: &["Almonds", "Cashews", "Mixed Nuts", "Trail Mix", "Pistachios", "Pecan Halves"],
        specs: &["Resealable Bag", "{diet}", "High in Protein"],
        attrs: &[
            ("diet", &["Gluten-Free", "Vegan", "Non-GMO", "Keto-Friendly"]),
            ("origin", &["USA", "Spain", "Vietnam"]),
        ],
        intros: &[
            "{brand} {noun} are a crunchy, satisfying snack for the trail or the office.",
            "These {noun} are {diet:lower} and packed in a resealable bag.",
            "Great for snacking, baking and topping salads.",
        ],
        details: &["Packed in a facility that also handles peanuts.", "Store in a cool, dry place."],
        dollars: (5, 19),
        grams: (240, 260),
        tax: "reduced",
        variants: Variants::Options("size", &[("8oz", 100, 100), ("16oz", 180, 195), ("32oz", 330, 385)], 40),
    },
    Leaf {
        path: ["Books", "Fiction", "Mystery"],
        count: 28,
        style: Style::Book,
        brands: &["Lanternfish Press", "Greywood House", "Harrow & Finch", "Blackmere Books"],
        adjectives: &[
            "Silent",
            "Crimson",
            "Last",
            "Drowned",
            "Hollow",
            "Midnight",
            "Glass",
            "Broken",
            "Quiet",
            "Vanishing",
        ],
        nouns: &[
            "Harbor",
            "Witness",
            "Orchard",
            "Ledger",
            "Lighthouse",
            "Key",
            "Winter",
            "Passenger",
            "Estate",
            "Garden",
        ],
        specs: &["A Novel", "A Detective Lin Mystery", "A Thriller", "An Inspector Hale Novel"],
        attrs: &[
            ("pages", &["256", "288", "304", "336", "352", "384", "416", "448"]),
            ("format", &["Paperback", "Hardcover"]),
            ("language", &["English"]),
            ("publication_year", &["2019", "2020", "2021", "2022", "2023", "2024"]),
        ],
        intros: &[
            "In {title}, {author} follows a small-town detective into a case nobody wants solved.",
            "A twisting, atmospheric mystery from {author} about secrets that refuse to stay buried.",
            "{author} returns with a tense {pages}-page puzzle set over one stormy weekend.",
        ],
        details: &["Perfect for fans of classic whodunits.", "The first in a new series.", "A book-club favourite."],
        dollars: (10, 29),
        grams: (280, 750),
        tax: "reduced",
        variants: Variants::Single,
    },
    Leaf {
        path: ["Books", "Fiction", "Science Fiction"],
        count: 22,
        style: Style::Book,
        brands: &["Farstar Books", "Nebula Lane Press", "Greywood House", "Ninth Moon Publishing"],
        adjectives: &["Distant", "Iron", "Fallen", "Silver", "Endless", "Hidden", "Burning", "Seventh", "Red", "Final"],
        nouns: &["Orbit", "Colony", "Signal", "Horizon", "Archive", "Drift", "Machine", "Sun", "Frontier", "Meridian"],
        specs: &["A Novel", "Book One of the Outer Reach", "A Space Opera", "A First Contact Novel"],
        attrs: &[
            ("pages", &["288", "320", "368", "400", "432", "480", "544"]),
            ("format", &["Paperback", "Hardcover"]),
            ("language", &["English"]),
            ("publication_year", &["2018", "2020", "2021", "2022", "2023", "2024"]),
        ],
        intros: &[
            "In {title}, {author} imagines a crew stranded light-years from home with one last chance to return.",
            "{author} builds a vivid future of drifting colonies, failing machines and fragile alliances.",
            "A sweeping {pages}-page adventure from {author} about what survives when the signal goes dark.",
        ],
        details: &["Includes a glossary and star map.", "Winner of a regional genre award.", "The series opener."],
        dollars: (10, 32),
        grams: (300, 850),
        tax: "reduced",
        variants: Variants::Single,
    },
    Leaf {
        path: ["Books", "Nonfiction", "Cookbooks"],
        count: 16,
        style: Style::Book,
        brands: &["Saltbox Press", "Harrow & Finch", "Greenleaf Kitchen Books"],
        adjectives: &[
            "Weeknight",
            "Sheet-Pan",
            "Plant-Forward",
            "Slow-Cooker",
            "Sunday",
            "Simple",
            "Family",
            "Coastal",
        ],
        nouns: &["Kitchen", "Table", "Suppers", "Baking", "Bowls", "Pantry", "Feasts"],
        specs: &["100 Easy Recipes", "Recipes for Busy Families", "Cooking Through the Seasons", "A Cookbook"],
        attrs: &[
            ("pages", &["192", "224", "256", "288", "320"]),
            ("format", &["Hardcover", "Paperback"]),
            ("language", &["English"]),
            ("publication_year", &["2020", "2021", "2022", "2023", "2024"]),
        ],
        intros: &[
            "{author} gathers dependable, flavour-packed recipes in {title}.",
            "A practical cookbook from {author} with full-colour photos on nearly every page.",
            "In {title}, {author} shows how a well-stocked pantry turns into dinner in thirty minutes.",
        ],
        details: &["Every recipe lists prep and cook times.", "Includes weekly meal plans and shopping lists."],
        dollars: (16, 38),
        grams: (600, 1200),
        tax: "reduced",
        variants: Variants::Single,
    },
    Leaf {
        path: ["Books", "Children's Books", "Picture Books"],
        count: 16,
        style: Style::Book,
        brands: &["Puddlejump Press", "Little Lantern Books", "Greywood House Kids"],
        adjectives: &["Sleepy", "Brave", "Little", "Curious", "Grumpy", "Tiny", "Busy", "Lost"],
        nouns: &["Dragon", "Owl", "Bear Cub", "Lighthouse", "Fox", "Tugboat", "Moon", "Penguin"],
        specs: &["A Bedtime Story", "A Picture Book"],
        attrs: &[
            ("pages", &["24", "32", "40", "48"]),
            ("format", &["Hardcover", "Board Book", "Paperback"]),
            ("age_range", &["0-3 years", "3-5 years", "4-8 years"]),
            ("language", &["English"]),
        ],
        intros: &[
            "{title} is a warm, funny read-aloud by {author} for ages {age_range}.",
            "{author} tells a gentle story about friendship, bravery and finding your way home.",
        ],
        details: &["Bright, full-page illustrations on every spread.", "A bedtime favourite."],
        dollars: (7, 19),
        grams: (150, 500),
        tax: "reduced",
        variants: Variants::Single,
    },
    Leaf {
        path: ["Clothing", "Men", "T-Shirts"],
        count: 28,
        style: Style::Product,
        brands: &["Threadline", "Northpaw Apparel", "Basecamp Co.", "Everyday Cotton Co."],
        adjectives: &["Classic Crew Neck", "Essential", "Heavyweight", "Performance", "V-Neck", "Pocket"],
        nouns: &["T-Shirt", "Tee", "Short Sleeve Shirt"],
        specs: &["{material}", "{fit} Fit", "Pack of 1"],
        attrs: &[
            ("material", &["100% Cotton", "Organic Cotton", "Cotton Blend", "Polyester Blend", "Tri-Blend"]),
            ("fit", &["Regular", "Slim", "Relaxed"]),
            ("care", &["Machine Wash Cold"]),
        ],
        intros: &[
            "The {brand} {noun} is cut from soft {material:lower} in a {fit:lower} fit.",
            "An everyday {noun} that holds its shape wash after wash.",
            "Layer it or wear it on its own: this {noun} is built for every day.",
        ],
        details: &["Tag-free neck label.", "Pre-shrunk to keep its fit.", "Double-stitched hems for durability."],
        dollars: (12, 39),
        grams: (150, 230),
        tax: "standard",
        variants: Variants::SizeColor(SHIRT_SIZES, APPAREL_COLORS),
    },
    Leaf {
        path: ["Clothing", "Women", "Leggings"],
        count: 18,
        style: Style::Product,
        brands: &["Flexform", "Stride & Flow", "Lumen Active", "Threadline"],
        adjectives: &["High-Waisted", "Seamless", "Fleece-Lined", "Performance", "Everyday"],
        nouns: &["Leggings", "Yoga Leggings", "Running Tights"],
        specs: &["{inseam} Inseam", "Side Pockets", "{material}"],
        attrs: &[
            ("material", &["Nylon Spandex", "Polyester Spandex", "Cotton Spandex"]),
            ("inseam", &["25-inch", "28-inch", "31-inch"]),
            ("rise", &["High", "Mid"]),
        ],
        intros: &[
            "{brand} {noun} stretch four ways and stay put through squats, runs and long days.",
            "Made from squat-proof {material:lower}, these {noun} have a {inseam} inseam and a {rise:lower} rise.",
        ],
        details: &["A hidden waistband pocket holds keys or cards.", "Moisture-wicking and quick drying."],
        dollars: (19, 89),
        grams: (180, 300),
        tax: "standard",
        variants: Variants::SizeColor(LEGGING_SIZES, APPAREL_COLORS),
    },
    Leaf {
        path: ["Clothing", "Shoes", "Running Shoes"],
        count: 22,
        style: Style::Product,
        brands: &["Strideon", "Velocita", "Trailfox", "Fleetfoot"],
        adjectives: &["Lightweight", "Cushioned", "Trail", "Road", "Stability", "Carbon-Plated Racing"],
        nouns: &["Running Shoes", "Runners", "Trainers"],
        specs: &["{drop} Drop", "{gender}", "{upper} Upper"],
        attrs: &[
            ("gender", &["Men's", "Women's", "Unisex"]),
            ("drop", &["4mm", "6mm", "8mm", "10mm"]),
            ("upper", &["Engineered Mesh", "Knit", "Ripstop"]),
        ],
        intros: &[
            "{brand} {noun} pair a responsive foam midsole with a {drop} drop for smooth, efficient strides.",
            "A breathable {upper:lower} upper and grippy rubber outsole make these {noun} ready for daily miles.",
        ],
        details: &["Removable insole fits custom orthotics.", "Reflective details for early-morning runs."],
        dollars: (59, 189),
        grams: (600, 950),
        tax: "standard",
        variants: Variants::SizeColor(SHOE_SIZES, APPAREL_COLORS),
    },
    Leaf {
        path: ["Sports & Outdoors", "Camping", "Tents"],
        count: 16,
        style: Style::Product,
        brands: &["Summitline", "Pinecrest Outdoor", "Ridgecamp", "Trailfox"],
        adjectives: &["Backpacking", "Instant Setup", "3-Season", "Dome", "Ultralight", "Family Cabin"],
        nouns: &["Tent", "Camping Tent", "Dome Tent"],
        specs: &["{seasons}", "Waterproof Rainfly", "{doors}"],
        attrs: &[
            ("seasons", &["3-Season", "4-Season"]),
            ("doors", &["1 Door", "2 Doors"]),
            ("floor_material", &["68D Polyester", "150D Oxford", "20D Ripstop Nylon"]),
        ],
        intros: &[
            "The {brand} {noun} pitches in under ten minutes with color-coded poles.",
            "A {seasons:lower} shelter with a full-coverage rainfly and a {floor_material} floor.",
            "Roomy vestibules keep boots and packs dry and out of the way.",
        ],
        details: &["Mesh panels cut condensation on warm nights.", "Packs into a compression sack with stakes."],
        dollars: (79, 499),
        grams: (1500, 5500),
        tax: "standard",
        variants: Variants::Options(
            "capacity",
            &[("2-Person", 100, 100), ("4-Person", 135, 150), ("6-Person", 175, 200)],
            50,
        ),
    },
    Leaf {
        path: ["Sports & Outdoors", "Camping", "Sleeping Bags"],
        count: 14,
        style: Style::Product,
        brands: &["Summitline", "Emberwood", "Pinecrest Outdoor", "Nightpeak"],
        adjectives: &["Mummy", "Rectangular", "Down", "Synthetic", "Lightweight Backpacking"],
        nouns: &["Sleeping Bag", "Camp Sleeping Bag"],
        specs: &["{temperature_rating} Rated", "{fill}", "Compression Sack Included"],
        attrs: &[
            ("temperature_rating", &["15F", "20F", "30F", "40F"]),
            ("fill", &["650-Fill Down", "800-Fill Down", "Synthetic Insulation"]),
        ],
        intros: &[
            "Rated to {temperature_rating}, the {brand} {noun} keeps you warm on cold mountain nights.",
            "{fill:lower} gives this {noun} a great warmth-to-weight ratio.",
        ],
        details: &["A draft collar and hood seal in heat.", "Two-way zipper for venting on warmer nights."],
        dollars: (39, 299),
        grams: (900, 2400),
        tax: "standard",
        variants: Variants::Options("length", &[("Regular", 100, 100), ("Long", 110, 110)], 50),
    },
    Leaf {
        path: ["Sports & Outdoors", "Fitness", "Yoga Mats"],
        count: 16,
        style: Style::Product,
        brands: &["Lotusform", "Groundwell", "Flexform", "Stillpoint"],
        adjectives: &["Non-Slip", "Cushioned", "Eco-Friendly", "Travel", "Alignment"],
        nouns: &["Yoga Mat", "Exercise Mat", "Pilates Mat"],
        specs: &["{thickness} Thick", "{material}", "Carrying Strap Included"],
        attrs: &[
            ("thickness", &["1.5mm", "4mm", "6mm", "10mm"]),
            ("material", &["TPE", "Natural Rubber", "PVC-Free Foam", "Cork"]),
        ],
        intros: &[
            "The {brand} {noun} grips in every pose, from quick stretches to long flows.",
            "Made from {material:lower}, this {noun} is easy to wipe clean and rolls up tight.",
        ],
        details: &["Alignment lines help square up your stance.", "Free of latex and phthalates."],
        dollars: (19, 119),
        grams: (900, 2500),
        tax: "standard",
        variants: Variants::Colors(SOFT_COLORS, 60),
    },
    Leaf {
        path: ["Toys & Games", "Games", "Board Games"],
        count: 20,
        style: Style::Product,
        brands: &["Meeple Forge", "Tabletop Tinkers", "Dicehaven", "Quill & Cube"],
        adjectives: &["Cooperative", "Strategy", "Family", "Party", "Deck-Building", "Tile-Laying"],
        nouns: &["Board Game", "Card Game", "Dice Game"],
        specs: &["{players} Players", "Ages {age_range}", "{play_time} Play Time"],
        attrs: &[
            ("players", &["1-4", "2-4", "2-6", "3-8"]),
            ("age_range", &["8+", "10+", "12+", "14+"]),
            ("play_time", &["20 min", "30-45 min", "60 min", "90 min"]),
        ],
        intros: &[
            "{brand} brings {players} players to the table for about {play_time} of clever decisions.",
            "An easy-to-teach {noun} that rewards planning and a little luck.",
            "Race, trade and build your way to victory in this {noun} for ages {age_range}.",
        ],
        details: &["Includes a quick-start guide.", "Every game plays differently.", "Sturdy storage insert."],
        dollars: (14, 69),
        grams: (400, 2300),
        tax: "standard",
        variants: Variants::Single,
    },
    Leaf {
        path: ["Toys & Games", "Building Toys", "Building Sets"],
        count: 18,
        style: Style::Product,
        brands: &["Brickwell", "Blockcraft Kids", "Tinkerton", "Constructa"],
        adjectives: &["Space Station", "City Fire Station", "Pirate Ship", "Castle", "Race Car", "Treehouse"],
        nouns: &["Building Set", "Building Kit", "Construction Set"],
        specs: &["{pieces} Pieces", "Ages {age_range}"],
        attrs: &[
            ("pieces", &["120", "250", "480", "760", "1100", "2300"]),
            ("age_range", &["4+", "6+", "8+", "12+", "18+"]),
        ],
        intros: &[
            "Build, play and rebuild with this {pieces}-piece {noun} from {brand}.",
            "Step-by-step instructions guide builders aged {age_range} through every stage.",
        ],
        details: &["Compatible with other major brick brands.", "Includes four minifigures."],
        dollars: (9, 179),
        grams: (200, 3000),
        tax: "standard",
        variants: Variants::Single,
    },
    Leaf {
        path: ["Beauty & Personal Care", "Skin Care", "Moisturizers"],
        count: 20,
        style: Style::Product,
        brands: &["Dewleaf", "Lumiere Botanics", "Purecalm", "Velvette"],
        adjectives: &["Hydrating", "Oil-Free", "Lightweight", "Daily", "Barrier Repair"],
        nouns: &["Face Moisturizer", "Gel Cream", "Face Cream", "Facial Lotion"],
        specs: &["{key_ingredient} Formula", "For {skin_type} Skin", "Fragrance-Free"],
        attrs: &[
            ("skin_type", &["All", "Dry", "Oily", "Sensitive", "Combination"]),
            ("key_ingredient", &["Hyaluronic Acid", "Ceramides", "Niacinamide", "Squalane", "Vitamin C"]),
        ],
        intros: &[
            "{brand} {noun} with {key_ingredient:lower} leaves skin soft and balanced.",
            "A lightweight {noun} formulated for {skin_type:lower} skin types.",
        ],
        details: &["Dermatologist tested.", "Not tested on animals.", "Absorbs quickly without a greasy finish."],
        dollars: (8, 58),
        grams: (70, 120),
        tax: "standard",
        variants: Variants::Options("size", &[("1.7 fl oz", 100, 100), ("3.4 fl oz", 170, 185)], 30),
    },
    Leaf {
        path: ["Beauty & Personal Care", "Hair Care", "Shampoo"],
        count: 18,
        style: Style::Product,
        brands: &["Dewleaf", "Strandwell", "Maple & Mint", "Purecalm"],
        adjectives: &["Moisturizing", "Volumizing", "Clarifying", "Color-Safe", "Sulfate-Free"],
        nouns: &["Shampoo", "Shampoo and Conditioner Set"],
        specs: &["For {hair_type} Hair", "{key_ingredient} Formula"],
        attrs: &[
            ("hair_type", &["All", "Curly", "Fine", "Color-Treated", "Dry"]),
            ("key_ingredient", &["Argan Oil", "Biotin", "Tea Tree", "Coconut Oil", "Rosemary"]),
        ],
        intros: &[
            "{brand} {noun} with {key_ingredient:lower} cleans gently without stripping.",
            "A rich, low-lather formula made for {hair_type:lower} hair.",
        ],
        details: &["Free of parabens and silicones.", "Safe for daily use."],
        dollars: (6, 34),
        grams: (380, 420),
        tax: "standard",
        variants: Variants::Options("size", &[("12 fl oz", 100, 100), ("33.8 fl oz", 210, 270)], 40),
    },
    Leaf {
        path: ["Pet Supplies", "Dogs", "Dog Food"],
        count: 20,
        style: Style::Product,
        brands: &["Trailtail", "Happy Hound", "Wildmeadow Pet", "Barkwell"],
        adjectives: &["Grain-Free", "Healthy Weight", "High-Protein", "Wholesome Grains", "Limited Ingredient"],
        nouns: &["Dry Dog Food", "Kibble"],
        specs: &["{protein} Recipe", "{life_stage} Formula"],
        attrs: &[
            ("protein", &["Chicken", "Salmon", "Lamb", "Turkey", "Beef"]),
            ("life_stage", &["Puppy", "Adult", "Senior", "All Life Stages"]),
        ],
        intros: &[
            "{brand} {noun} starts with real {protein:lower} as the first ingredient.",
            "A complete and balanced {life_stage:lower} formula with no artificial colours.",
        ],
        details: &["Made in the USA.", "Added omega fatty acids support skin and coat."],
        dollars: (14, 39),
        grams: (1850, 1950),
        tax: "standard",
        variants: Variants::Options("size", &[("4lb", 100, 100), ("15lb", 260, 370), ("30lb", 430, 740)], 60),
    },
    Leaf {
        path: ["Pet Supplies", "Cats", "Cat Toys"],
        count: 16,
        style: Style::Product,
        brands: &["Whiskerworks", "Pawsome Play", "Kittycraft"],
        adjectives: &["Interactive", "Catnip", "Feather", "Electronic", "Plush"],
        nouns: &["Wand Toy", "Ball Track", "Mouse Toy", "Tunnel", "Chase Toy"],
        specs: &["{material}", "For {recommended_for}"],
        attrs: &[
            ("material", &["Felt", "Sisal", "Plush", "Plastic"]),
            ("recommended_for", &["Kittens", "Adult Cats", "All Ages"]),
        ],
        intros: &[
            "Keep indoor cats busy with the {brand} {noun}.",
            "A {noun} that brings out the hunter in every cat.",
        ],
        details: &["Non-toxic materials.", "Great for solo play."],
        dollars: (4, 29),
        grams: (30, 600),
        tax: "standard",
        variants: Variants::Colors(SOFT_COLORS, 20),
    },
    Leaf {
        path: ["Office Products", "Paper", "Notebooks"],
        count: 18,
        style: Style::Product,
        brands: &["Papercraft Co.", "Inkwell & Oak", "Fieldline", "Ledgerly"],
        adjectives: &["Hardcover", "Spiral", "Softcover", "Classic", "Everyday"],
        nouns: &["Notebook", "Journal", "Composition Book"],
        specs: &["{sheets} Sheets", "{page_size}, {ruling}"],
        attrs: &[
            ("sheets", &["80", "96", "120", "192"]),
            ("page_size", &["A5", "B5", "8.5 x 11 in"]),
            ("ruling", &["College Ruled", "Dot Grid", "Blank", "Graph"]),
        ],
        intros: &[
            "{brand} {noun} with {sheets} sheets of thick, fountain-pen friendly paper.",
            "A sturdy {page_size} {noun} for notes, lists and sketches.",
        ],
        details: &["Lays flat when open.", "Numbered pages and an index."],
        dollars: (5, 29),
        grams: (150, 500),
        tax: "standard",
        variants: Variants::Colors(SOFT_COLORS, 50),
    },
    Leaf {
        path: ["Office Products", "Writing", "Pens"],
        count: 16,
        style: Style::Product,
        brands: &["Inkwell & Oak", "Glidewrite", "Fineline Supply"],
        adjectives: &["Gel", "Retractable", "Fine Point", "Quick-Dry", "Smooth-Writing"],
        nouns: &["Pens", "Rollerball Pens", "Ballpoint Pens"],
        specs: &["{tip_size} Tip", "Pack of {pack_size}"],
        attrs: &[("tip_size", &["0.38mm", "0.5mm", "0.7mm", "1.0mm"]), ("pack_size", &["2", "4", "12", "24"])],
        intros: &[
            "{brand} {noun} write smoothly with a {tip_size} tip.",
            "Reliable everyday {noun} with smudge-resistant ink.",
        ],
        details: &["Comfortable soft-grip barrel.", "Refillable."],
        dollars: (3, 29),
        grams: (20, 220),
        tax: "standard",
        variants: Variants::Options("ink", &[("Black", 100, 100), ("Blue", 100, 100), ("Red", 100, 100)], 40),
    },
    Leaf {
        path: ["Patio & Garden", "Gardening", "Hand Tools"],
        count: 20,
        style: Style::Product,
        brands: &["Greenthumb Works", "Rootwell", "Fieldmark Garden", "IronRidge"],
        adjectives: &["Ergonomic", "Heavy-Duty", "Professional", "Forged", "Compact"],
        nouns: &["Pruning Shears", "Hand Trowel", "Garden Hoe", "Weeder", "Hedge Shears"],
        specs: &["{handle} Handle", "{blade} Blade"],
        attrs: &[
            ("handle", &["Ash Wood", "Fiberglass", "Rubber Grip"]),
            ("blade", &["Carbon Steel", "Stainless Steel"]),
        ],
        intros: &[
            "{brand} {noun} with a {blade:lower} blade and a comfortable {handle:lower} handle.",
            "Made for years of weekend gardening, with a {blade:lower} blade that stays sharp season after season.",
        ],
        details: &["Lifetime warranty.", "A hang hole keeps your shed tidy."],
        dollars: (9, 59),
        grams: (150, 900),
        tax: "standard",
        variants: Variants::Single,
    },
    Leaf {
        path: ["Patio & Garden", "Outdoor Decor", "Planters"],
        count: 14,
        style: Style::Product,
        brands: &["Terracotta & Co.", "Stoneleaf", "Urban Sprout"],
        adjectives: &["Self-Watering", "Modern", "Minimalist", "Tall", "Classic"],
        nouns: &["Planter", "Plant Pot", "Planter Box"],
        specs: &["{diameter}", "Drainage Plug Included", "{material}"],
        attrs: &[
            ("diameter", &["6-inch", "8-inch", "10-inch", "12-inch"]),
            ("material", &["Ceramic", "Resin", "Cedar"]),
        ],
        intros: &[
            "The {brand} {noun} in {material:lower} brightens patios and windowsills.",
            "Sized for herbs, succulents and small shrubs, this {diameter} {noun} suits patios and sills alike.",
        ],
        details: &["Frost resistant.", "A removable plug controls drainage."],
        dollars: (12, 79),
        grams: (400, 4000),
        tax: "standard",
        variants: Variants::Colors(SOFT_COLORS, 40),
    },
    Leaf {
        path: ["Baby", "Feeding", "Infant Formula"],
        count: 8,
        style: Style::Product,
        brands: &["Littlesprout", "Cradlewell", "Nurture Baby"],
        adjectives: &["Gentle", "Organic", "Sensitive", "Hypoallergenic"],
        nouns: &["Infant Formula", "Baby Formula Powder"],
        specs: &["{stage}", "Non-GMO"],
        attrs: &[("stage", &["Stage 1 (0-12 months)", "Stage 2 (6-12 months)"]), ("form", &["Powder"])],
        intros: &[
            "{brand} {noun} is designed to be gentle on little tummies.",
            "Complete nutrition for your baby, made as a {stage} formula.",
        ],
        details: &["Contains DHA and iron.", "Mix with water as directed on the label."],
        dollars: (19, 39),
        grams: (650, 700),
        tax: "zero",
        variants: Variants::Options("size", &[("12.4oz", 100, 100), ("20.5oz", 155, 165), ("29.8oz", 210, 235)], 40),
    },
];

#[derive(Serialize)]
struct Product {
    id: String,
    title: String,
    description: String,
    brand: &'static str,
    category: [&'static str; 3],
    seller_id: &'static str,
    attributes: BTreeMap<&'static str, String>,
    images: Vec<String>,
    rating: f64,
    review_count: u32,
    variants: Vec<Variant>,
    #[serde(skip_serializing_if = "is_false")]
    sponsored: bool,
}

#[derive(Serialize)]
struct Variant {
    sku: String,
    options: BTreeMap<&'static str, String>,
    price: Price,
    weight_grams: u32,
    tax_category: &'static str,
    stock: Vec<Stock>,
}

#[derive(Serialize)]
struct Price {
    cents: u64,
    currency: &'static str,
}

#[derive(Serialize)]
struct Stock {
    warehouse: &'static str,
    quantity: u32,
}

#[derive(Serialize)]
struct Warehouse {
    id: &'static str,
    name: &'static str,
    location: Location,
    region: &'static str,
}

#[derive(Serialize)]
struct Location {
    lat: f64,
    lon: f64,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn main() -> Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "snapshots".to_string()));
    validate_tables()?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut rng = StdRng::seed_from_u64(SEED);
    let products = build_catalog(&mut rng)?;
    write_catalog(&dir.join("demo-catalog.ndjson"), &products)?;
    write_warehouses(&dir.join("warehouses.json"))?;

    let variants: usize = products.iter().map(|p| p.variants.len()).sum();
    println!("wrote {} products ({variants} variants) to {}", products.len(), dir.display());
    Ok(())
}

/// Checks that every table is non-empty and every template only names known placeholders.
fn validate_tables() -> Result<()> {
    for leaf in LEAVES {
        let name = leaf.path.join(" > ");
        if leaf.brands.is_empty() || leaf.adjectives.is_empty() || leaf.nouns.is_empty() {
            bail!("{name}: brands, adjectives and nouns must not be empty");
        }
        if leaf.specs.is_empty() || leaf.intros.is_empty() || leaf.dollars.0 == 0 || leaf.grams.0 == 0 {
            bail!("{name}: specs, intros, prices and weights must not be empty");
        }
        if leaf.dollars.0 > leaf.dollars.1 || leaf.grams.0 > leaf.grams.1 {
            bail!("{name}: price and weight ranges must be ordered");
        }
        let empty_variants = match &leaf.variants {
            Variants::Single => false,
            Variants::Colors(colors, _) => colors.is_empty(),
            Variants::Options(_, values, _) => values.is_empty(),
            Variants::SizeColor(sizes, colors) => sizes.is_empty() || colors.is_empty(),
        };
        if empty_variants || leaf.attrs.iter().any(|(_, values)| values.is_empty()) {
            bail!("{name}: every attribute and variant table needs at least one value");
        }
        let mut vars: BTreeMap<&str, String> =
            leaf.attrs.iter().map(|(key, values)| (*key, values[0].to_string())).collect();
        for key in ["brand", "noun", "title", "author"] {
            vars.insert(key, String::new());
        }
        for template in leaf.specs.iter().chain(leaf.intros).chain(leaf.details) {
            fill(template, &vars).with_context(|| format!("{name}: template {template:?}"))?;
        }
    }
    Ok(())
}

fn build_catalog(rng: &mut StdRng) -> Result<Vec<Product>> {
    let mut titles = BTreeSet::new();
    let mut products = Vec::new();
    for leaf in LEAVES {
        for _ in 0..leaf.count {
            let id = format!("P-{}", FIRST_ID + products.len());
            products.push(build_product(rng, leaf, id, &mut titles)?);
        }
    }
    for i in index::sample(rng, products.len(), SPONSORED_COUNT) {
        products[i].sponsored = true;
    }
    Ok(products)
}

fn build_product(rng: &mut StdRng, leaf: &'static Leaf, id: String, titles: &mut BTreeSet<String>) -> Result<Product> {
    let brand = pick(rng, leaf.brands);
    let mut attributes: BTreeMap<&'static str, String> =
        leaf.attrs.iter().map(|(key, values)| (*key, pick(rng, values).to_string())).collect();
    if matches!(leaf.style, Style::Book) {
        attributes.insert("author", format!("{} {}", pick(rng, AUTHOR_FIRST), pick(rng, AUTHOR_LAST)));
    }
    let mut vars: BTreeMap<&str, String> = attributes.iter().map(|(k, v)| (*k, v.clone())).collect();
    vars.insert("brand", brand.to_string());

    let (title, noun) = unique_title(rng, leaf, &vars, titles)?;
    // Descriptions name a book by its main title, without the subtitle.
    vars.insert("title", title.split_once(':').map_or(title.as_str(), |(main, _)| main).to_string());
    vars.insert("noun", lower_words(noun));
    let description = describe(rng, leaf, &vars)?;

    let review_count = review_count(rng);
    let variants = build_variants(rng, leaf, &id);
    Ok(Product {
        images: images(rng, &id),
        id,
        title,
        description,
        brand,
        category: leaf.path,
        seller_id: seller(rng),
        attributes,
        rating: rating(rng, review_count),
        review_count,
        variants,
        sponsored: false,
    })
}

/// Draws titles until one is not yet used; running out means the leaf's vocabulary is too small.
fn unique_title(
    rng: &mut StdRng,
    leaf: &Leaf,
    vars: &BTreeMap<&str, String>,
    titles: &mut BTreeSet<String>,
) -> Result<(String, &'static str)> {
    for _ in 0..50 {
        let noun = pick(rng, leaf.nouns);
        let title = make_title(rng, leaf, noun, vars)?;
        if titles.insert(title.clone()) {
            return Ok((title, noun));
        }
    }
    bail!("{}: vocabulary too small for unique titles, add adjectives, nouns or specs", leaf.path.join(" > "))
}

fn make_title(rng: &mut StdRng, leaf: &Leaf, noun: &str, vars: &BTreeMap<&str, String>) -> Result<String> {
    let adjective = pick(rng, leaf.adjectives);
    let spec = fill(pick(rng, leaf.specs), vars)?;
    let title = match leaf.style {
        Style::Product => format!("{} {adjective} {noun}, {spec}", vars.get("brand").map_or("", String::as_str)),
        Style::Book => {
            let article = if rng.random_bool(0.7) { "The " } else { "" };
            if rng.random_bool(0.4) {
                format!("{article}{adjective} {noun}: {spec}")
            } else {
                format!("{article}{adjective} {noun}")
            }
        }
    };
    Ok(title)
}

/// One intro sentence followed by up to two distinct detail sentences.
fn describe(rng: &mut StdRng, leaf: &Leaf, vars: &BTreeMap<&str, String>) -> Result<String> {
    let mut sentences = vec![capitalize(&fill(pick(rng, leaf.intros), vars)?)];
    let extra = rng.random_range(0..=leaf.details.len().min(2));
    for i in index::sample(rng, leaf.details.len(), extra) {
        sentences.push(capitalize(&fill(leaf.details[i], vars)?));
    }
    Ok(sentences.join(" "))
}

/// Lower-cases capitalised words for use mid-sentence ("Cotton Percale" -> "cotton percale") and keeps
/// acronyms, single letters and proper words as they are ("Non-GMO" -> "non-GMO", "Vitamin C" -> "vitamin C").
fn lower_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive([' ', '-']) {
        let word = piece.trim_end_matches([' ', '-']);
        let mut chars = word.chars();
        let capitalised = chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && word.len() > 1
            && chars.all(|c| c.is_ascii_lowercase() || c == '\'');
        if capitalised && !PROPER_WORDS.contains(&word) {
            out.push_str(&piece.to_ascii_lowercase());
        } else {
            out.push_str(piece);
        }
    }
    out
}

fn capitalize(sentence: &str) -> String {
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Replaces each `{key}` in `template` with its value, or `{key:lower}` with its value in lower case
/// (see `lower_words`). Unknown keys and modifiers are an error.
fn fill(template: &str, vars: &BTreeMap<&str, String>) -> Result<String> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else { bail!("unclosed placeholder") };
        let placeholder = &rest[start + 1..start + len];
        let (key, modifier) = placeholder.split_once(':').unwrap_or((placeholder, ""));
        let Some(value) = vars.get(key) else { bail!("unknown placeholder {{{placeholder}}}") };
        match modifier {
            "" => out.push_str(value),
            "lower" => out.push_str(&lower_words(value)),
            _ => bail!("unknown modifier in {{{placeholder}}}"),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn build_variants(rng: &mut StdRng, leaf: &Leaf, id: &str) -> Vec<Variant> {
    let base_cents = u64::from(rng.random_range(leaf.dollars.0..=leaf.dollars.1)) * 100;
    let base_grams = u64::from(rng.random_range(leaf.grams.0..=leaf.grams.1));
    let mut variants = Vec::new();
    for choices in variant_layouts(rng, &leaf.variants) {
        let price_pct = choices.iter().fold(100, |pct, c| pct * u64::from(c.price_pct) / 100);
        let weight_pct = choices.iter().fold(100, |pct, c| pct * u64::from(c.weight_pct) / 100);
        let suffix: Vec<String> = choices.iter().map(|c| sku_part(c.value)).collect();
        let suffix = if suffix.is_empty() { "STD".to_string() } else { suffix.join("-") };
        variants.push(Variant {
            sku: format!("{id}-{suffix}"),
            options: choices.iter().map(|c| (c.key, c.value.to_string())).collect(),
            price: Price { cents: price_ending_99(base_cents * price_pct / 100), currency: "USD" },
            weight_grams: u32::try_from(base_grams * weight_pct / 100).unwrap_or(u32::MAX).max(1),
            tax_category: leaf.tax,
            stock: stock(rng),
        });
    }
    variants
}

/// The option choices of each variant of one product, in a stable order.
fn variant_layouts(rng: &mut StdRng, spec: &Variants) -> Vec<Vec<Choice>> {
    match spec {
        Variants::Single => vec![Vec::new()],
        Variants::Colors(colors, multi_pct) => {
            let count = if rng.random_range(0..100) < *multi_pct { rng.random_range(2..=4) } else { 1 };
            let mut picked = index::sample(rng, colors.len(), count.min(colors.len())).into_vec();
            picked.sort_unstable();
            picked.into_iter().map(|i| vec![Choice::color(colors[i])]).collect()
        }
        Variants::Options(key, values, multi_pct) => {
            let chosen = if rng.random_range(0..100) < *multi_pct {
                let count = rng.random_range(2..=3);
                run(rng, values, count)
            } else {
                std::slice::from_ref(single_option(rng, values))
            };
            chosen.iter().map(|opt| vec![Choice::option(key, opt)]).collect()
        }
        Variants::SizeColor(sizes, colors) => size_color_grid(rng, sizes, colors),
    }
}

/// A run of `count` consecutive option values (clamped to the table length).
fn run(rng: &mut StdRng, values: &'static [Opt], count: usize) -> &'static [Opt] {
    let count = count.clamp(1, values.len());
    let start = rng.random_range(0..=values.len() - count);
    &values[start..start + count]
}

/// One option value, leaning towards the first (smallest) ones, which sell most.
fn single_option(rng: &mut StdRng, values: &'static [Opt]) -> &'static Opt {
    let first = rng.random_range(0..values.len());
    let second = rng.random_range(0..values.len());
    &values[first.min(second)]
}

/// 1-3 colours times a run of sizes, 3 to 8 variants in total.
fn size_color_grid(rng: &mut StdRng, sizes: &'static [Opt], colors: &'static [&'static str]) -> Vec<Vec<Choice>> {
    let color_count: usize = rng.random_range(1..=3);
    let min_sizes = 3usize.div_ceil(color_count).max(2);
    let max_sizes = (8 / color_count).min(sizes.len()).max(min_sizes);
    let size_count = rng.random_range(min_sizes..=max_sizes);
    let size_run = run(rng, sizes, size_count);
    let mut picked = index::sample(rng, colors.len(), color_count).into_vec();
    picked.sort_unstable();
    let mut grid = Vec::new();
    for color in picked.into_iter().map(|i| colors[i]) {
        for size in size_run {
            grid.push(vec![Choice::color(color), Choice::option("size", size)]);
        }
    }
    grid
}

/// Upper-cased option value restricted to the SKU alphabet, e.g. "Navy Blue" -> "NAVYBLUE".
fn sku_part(value: &str) -> String {
    value.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').map(|c| c.to_ascii_uppercase()).collect()
}

/// Rounds to the nearest dollar and knocks off a cent: 7_912 -> 7_899.
fn price_ending_99(cents: u64) -> u64 {
    ((cents + 50) / 100).max(1) * 100 - 1
}

/// Stock in 1-3 warehouses. About 1% of variants have no stock entries, 1% are at zero everywhere and 3%
/// have fewer than five units left.
fn stock(rng: &mut StdRng) -> Vec<Stock> {
    let roll = rng.random_range(0..100);
    if roll < 1 {
        return Vec::new();
    }
    let count = rng.random_range(1..=WAREHOUSE_IDS.len());
    let mut picked = index::sample(rng, WAREHOUSE_IDS.len(), count).into_vec();
    picked.sort_unstable();
    let low_slot = rng.random_range(0..count);
    picked
        .into_iter()
        .enumerate()
        .map(|(slot, i)| {
            let quantity = match roll {
                1 => 0,
                2..=4 if slot == low_slot => rng.random_range(1..5),
                2..=4 => 0,
                _ => (rng.random::<f64>().powi(2) * MAX_QUANTITY).round() as u32,
            };
            Stock { warehouse: WAREHOUSE_IDS[i], quantity }
        })
        .collect()
}

/// Skewed towards small counts: the median is around 35 and about 10% exceed 9,000.
fn review_count(rng: &mut StdRng) -> u32 {
    MAX_REVIEWS.powf(rng.random::<f64>().powf(1.6)).floor() as u32
}

/// Mostly 3.5-4.9; a tail of weaker products and the odd perfect score on a handful of reviews.
fn rating(rng: &mut StdRng, review_count: u32) -> f64 {
    let roll = rng.random_range(0..100);
    let tenths: u32 = match roll {
        _ if review_count <= 3 && roll < 15 => 50,
        0..=87 => rng.random_range(35..=49),
        88..=96 => rng.random_range(25..=34),
        _ => rng.random_range(10..=24),
    };
    f64::from(tenths) / 10.0
}

fn seller(rng: &mut StdRng) -> &'static str {
    if rng.random_bool(0.5) {
        FIRST_PARTY_SELLER
    } else {
        pick(rng, THIRD_PARTY_SELLERS)
    }
}

fn images(rng: &mut StdRng, id: &str) -> Vec<String> {
    let count = rng.random_range(1..=3);
    (1..=count).map(|n| format!("https://cdn.example.com/products/{id}/{n}.jpg")).collect()
}

/// A uniformly chosen element; all tables are non-empty (the leaves are checked in `validate_tables`).
fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn write_catalog(path: &Path, products: &[Product]) -> Result<()> {
    let mut skus = BTreeSet::new();
    let mut out = BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?);
    for product in products {
        for variant in &product.variants {
            let sku = variant.sku.as_str();
            let charset_ok = sku.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if sku.len() > MAX_SKU_LEN || !charset_ok || !skus.insert(sku) {
                bail!("bad or duplicate sku {}", variant.sku);
            }
        }
        serde_json::to_writer(&mut out, product)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn write_warehouses(path: &Path) -> Result<()> {
    let warehouses = [
        Warehouse {
            id: "W-EAST",
            name: "East Fulfillment Center",
            location: Location { lat: 40.52, lon: -74.41 },
            region: "US-NJ",
        },
        Warehouse {
            id: "W-CENTRAL",
            name: "Central Fulfillment Center",
            location: Location { lat: 41.53, lon: -88.08 },
            region: "US-IL",
        },
        Warehouse {
            id: "W-WEST",
            name: "West Fulfillment Center",
            location: Location { lat: 39.53, lon: -119.81 },
            region: "US-NV",
        },
    ];
    let mut json = serde_json::to_string_pretty(&warehouses)?;
    json.push('\n');
    fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

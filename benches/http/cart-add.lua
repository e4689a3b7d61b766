-- wrk script: POST /v1/carts/{id}/items round-robin over the carts in
-- $CARTS_FILE and the SKUs in $SKUS_FILE (one per line), one unit each.
local function lines(path)
  local t = {}
  for line in io.lines(path) do t[#t + 1] = line end
  return t
end
carts = lines(os.getenv("CARTS_FILE"))
skus = lines(os.getenv("SKUS_FILE"))
counter = 0
request = function()
  counter = counter + 1
  local cart = carts[(counter % #carts) + 1]
  local sku = skus[(math.floor(counter / #carts) % #skus) + 1]
  return wrk.format("POST", "/v1/carts/" .. cart .. "/items", {["Content-Type"] = "application/json"},
    '{"sku":"' .. sku .. '","quantity":1}')
end

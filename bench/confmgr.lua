-- wrk script for `just bench` (crates/confmgr-bench starts wrk with it).
--
-- BENCH_MODE     read | write | login | lookup-self | mount-info | healthz
-- BENCH_TOKENS   file: one token per line; line i belongs to client i
-- BENCH_APPROLES file: "role_id secret_id" per line (login mode)
-- BENCH_SECRETS  secrets per client; client i owns bench/c<i>/s<0..n-1>
--
-- Every request picks a random client, so the server sees 1,000 different tokens
-- and 100,000 different paths, not one hot row.

local mode = os.getenv("BENCH_MODE") or "read"
local secrets_per_client = tonumber(os.getenv("BENCH_SECRETS") or "100")

local function lines(path)
  local out = {}
  if path == nil or path == "" then
    return out
  end
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    if line ~= "" then
      out[#out + 1] = line
    end
  end
  file:close()
  return out
end

local tokens = {}
local approles = {}
local counter = 0
local threads = {}
-- answers other than 2xx, by status (per thread; summed in done)
statuses = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  threads[#threads + 1] = thread
end

function response(status, headers, body)
  if status >= 300 then
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function init(args)
  -- each thread has its own Lua state, so each loads the files and seeds its own generator
  tokens = lines(os.getenv("BENCH_TOKENS"))
  for _, line in ipairs(lines(os.getenv("BENCH_APPROLES"))) do
    local role_id, secret_id = line:match("^(%S+)%s+(%S+)$")
    approles[#approles + 1] = { role_id, secret_id }
  end
  math.randomseed(os.time() * 1000 + (id or 0))
end

local function secret_path(client)
  local secret = math.random(0, secrets_per_client - 1)
  return string.format("/v1/secret/data/bench/c%d/s%d", client - 1, secret)
end

function request()
  if mode == "healthz" then
    return wrk.format("GET", "/healthz")
  elseif mode == "login" then
    local pair = approles[math.random(#approles)]
    local body = string.format('{"role_id":"%s","secret_id":"%s"}', pair[1], pair[2])
    return wrk.format("POST", "/v1/auth/approle/login", { ["Content-Type"] = "application/json" }, body)
  end
  local client = math.random(#tokens)
  local headers = { ["X-Vault-Token"] = tokens[client] }
  if mode == "lookup-self" then
    return wrk.format("GET", "/v1/auth/token/lookup-self", headers)
  elseif mode == "mount-info" then
    -- what the vault CLI asks before every kv command: any valid token, no database, not audited
    return wrk.format("GET", string.format("/v1/sys/internal/ui/mounts/secret/bench/c%d", client - 1), headers)
  elseif mode == "write" then
    headers["Content-Type"] = "application/json"
    local body = string.format('{"data":{"user":"u%d","password":"%d"}}', client, math.random(1, 1000000000))
    return wrk.format("POST", secret_path(client), headers, body)
  end
  return wrk.format("GET", secret_path(client), headers)
end

function done(summary, latency, requests)
  local by_status = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      by_status[status] = (by_status[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(by_status) do
    parts[#parts + 1] = string.format('"%d":%d', status, count)
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, table.concat(parts, ",")))
end

-- wrk -s post.lua: POST with a 1 KiB body (override the size with BODY_BYTES in the environment)
local size = tonumber(os.getenv("BODY_BYTES") or "1024")
wrk.method = "POST"
wrk.body = string.rep("x", size)
wrk.headers["Content-Type"] = "application/octet-stream"

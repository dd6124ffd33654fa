-- wrk script for bench/run.sh: when the run ends, prints one machine-readable line with the exact
-- request count, duration, latency percentiles (microseconds) and error counts, so that the script
-- never has to parse wrk's human-readable units ("812.34us", "1.20ms").
--
-- errors.status counts responses with a status of 400 or more (wrk's "Non-2xx or 3xx responses");
-- connect/read/write/timeout are socket errors, timeout meaning no answer within wrk's --timeout.

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end

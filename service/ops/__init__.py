"""Operations: structured logs with request ids, Prometheus metrics, security headers, outages."""

# The two commands a newcomer needs (see README.md).
.PHONY: demo test bench openapi

demo:
	scripts/demo.sh

test:
	scripts/test.sh

# Every performance figure, side by side with Airflow's task SDK; writes BENCHMARKS.md.
bench:
	scripts/bench.sh

# Regenerate the committed OpenAPI document after changing a route or a body.
openapi:
	cargo run -q -p airlock-api-server -- openapi > openapi/execution-api.json

# The two commands a newcomer needs (see README.md).
.PHONY: demo test openapi

demo:
	scripts/demo.sh

test:
	scripts/test.sh

# Regenerate the committed OpenAPI document after changing a route or a body.
openapi:
	cargo run -q -p airlock-api-server -- openapi > openapi/execution-api.json

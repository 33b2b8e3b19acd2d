.PHONY: setup demo test lint bench
setup:
	deploy/setup.sh dev
demo:
	deploy/demo.sh
test:
	deploy/test.sh
lint:
	.venv/bin/ruff check . && .venv/bin/mypy firmware_bridge analytics gateway api simulators
bench:
	@for b in tests/benchmarks/bench_*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

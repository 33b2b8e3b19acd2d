.PHONY: setup demo test lint bench
setup:
	deploy/setup.sh dev
demo:
	deploy/demo.sh
test:
	deploy/test.sh
lint:
	deploy/lint.sh
bench:
	@for b in tests/benchmarks/bench_*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

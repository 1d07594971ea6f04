# The two commands of the README are `make demo` and `make test`; everything else is a step.
.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/tulou demo

test: setup
	@bash scripts/test.sh

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy tulou crypto gateway detect soc backup compliance lab && .venv/bin/lint-imports

bench: setup
	.venv/bin/python -m bench

clean:
	rm -rf .venv var .pytest_cache .mypy_cache .ruff_cache

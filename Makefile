# Developer shortcuts; the real logic lives in scripts/.
.PHONY: test run bench lint docs clean

test:
	bash scripts/test.sh

run:
	bash scripts/run.sh

bench:
	bash scripts/bench.sh $(ARGS)

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

docs:  # the configuration reference, written from settings.py
	.venv/bin/python settings.py docs > docs/configuration.md

clean:
	rm -rf .venv instance .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

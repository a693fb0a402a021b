# The two commands: `make dev` (the local world) and `make test` (every check CI runs).
.PHONY: dev test bench bench-refresh

dev:
	@bash scripts/dev.sh

test:
	@bash scripts/test.sh

bench:
	@bash scripts/bench.sh

bench-refresh:
	@bash scripts/bench_refresh.sh

# Deployment helpers (see deploy/CONFIGURATION.md and deploy/helm/write-batcher/README.md).
CHART_DASHBOARDS := deploy/helm/write-batcher/dashboards

.PHONY: chart-dashboards images
# Helm's .Files cannot read outside the chart: copy the Grafana dashboards into it.
chart-dashboards:
	mkdir -p $(CHART_DASHBOARDS)
	find $(CHART_DASHBOARDS) -name '*.json' -delete
	if ls deploy/grafana/dashboards/*.json >/dev/null 2>&1; then \
		cp deploy/grafana/dashboards/*.json $(CHART_DASHBOARDS)/; fi

images:
	docker build -f main-service/Dockerfile -t write-batcher/main:local .
	docker build -f batcher-service/Dockerfile -t write-batcher/batcher:local .

import Metrics
import Prometheus
import SluiceNetwork

/// The Prometheus side of the gateway's metrics: names, registry and the `/metrics` and
/// `/healthz` answers.
struct PrometheusExport: Sendable {
    let registry = PrometheusCollectorRegistry()

    /// A swift-metrics factory that records into `registry` under Prometheus names.
    var factory: PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { label, dimensions in (prometheusName(label), dimensions) }
        return factory
    }

    /// The answer to a `GET` of `path`, from a fresh snapshot of the gateway.
    static func respond(
        to path: String, registry: PrometheusCollectorRegistry, stats: GatewayStats, snapshot: () -> StatsSnapshot
    ) -> HTTPEndpoint.Response {
        switch path {
        case "/metrics":
            stats.updateGauges(snapshot())
            return .init(
                status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
        case "/healthz":
            let health = snapshot().health
            if health.healthy { return .init(status: 200, body: Array("ok\n".utf8)) }
            return .init(status: 503, body: Array((health.problems.joined(separator: "\n") + "\n").utf8))
        default:
            return .init(status: 404, body: Array("/metrics and /healthz are served here\n".utf8))
        }
    }
}

/// The Prometheus name of a swift-metrics label: dots become underscores, counters end in
/// `_total` and the publish latency is in seconds, as Micrometer exports the same metrics.
func prometheusName(_ label: String) -> String {
    let counters: Set<String> = [
        "kafka.events.published", "kafka.circuit_breaker.open", "kafka.events.stored_for_retry",
        "kafka.retry.success", "kafka.dlq.sent", "sluice.config.reloads",
        "kafka.events.rejected", "sluice.contract.observed",  // topic contracts
    ]
    let base = label.replacingOccurrences(of: ".", with: "_")
    if counters.contains(label) { return base + "_total" }
    if label == "kafka.publish.latency" { return base + "_seconds" }
    return base
}

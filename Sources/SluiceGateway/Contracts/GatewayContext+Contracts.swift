import Logging
import SluiceProtocol

extension GatewayContext {
    /// Checks `batch` against the topic contracts in force, on the connection's loop, after the
    /// access rules: a record an enforced contract refuses gets its code and is never routed.
    func checkContracts(_ batch: inout PublishBatch, _ topics: BatchTopics, logger: Logger) {
        let table = settings.current.contracts
        guard table.isActive else { return }
        let violations = table.check(&batch, topics)
        if !violations.isEmpty { stats.contracts.count(violations, logger: logger) }
    }
}

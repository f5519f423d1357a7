extension StatsSnapshot {
    /// Marks the gateway unhealthy, with librdkafka's own words as the reason, while the brokers
    /// refuse its TLS or SASL (`KafkaProducer.connectionProblem`): a configuration fault that
    /// waiting does not cure, so it counts at once, not after `health.circuit-open-longer-than`.
    public mutating func noteKafkaRefusal(_ problem: String?) {
        guard let problem else { return }
        health.problems.append("Kafka refuses this gateway: \(problem)")
        health.healthy = false
    }
}

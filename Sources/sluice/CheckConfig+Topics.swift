import SluiceGateway

extension CheckConfig {
    /// Prints the `topics:` section, when the file has one: each contract and its rules, in
    /// the order they are checked.
    func printTopics(_ topics: TopicContracts) {
        guard !topics.isEmpty else {
            print("  topics    none declared: records are published unchecked")
            return
        }
        let lines = topics.summary
        print("  topics    \(lines[0])")
        for line in lines.dropFirst() { print("            \(line)") }
    }
}

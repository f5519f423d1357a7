import Foundation
import SluiceTestSupport
import Testing

/// libdispatch on Linux can crash when a read source on a socket sees a hang-up while it is
/// unregistered (evidence/dispatch-hangup-race), and the crash is probabilistic, so the rule
/// itself is checked: no socket gets a DispatchSource; readiness comes from SluiceNetwork's epoll.
@Suite("No DispatchSource on sockets")
struct NoDispatchSourceTests {
    @Test func noSourceReadsOrWritesADescriptor() throws {
        let sources = repositoryRoot.appendingPathComponent("Sources")
        let files = try #require(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") }
        #expect(files.count > 20, "found the sources in \(sources.path)")
        for file in files {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for forbidden in ["makeReadSource", "makeWriteSource", "DispatchSourceRead", "DispatchSourceWrite"] {
                #expect(!text.contains(forbidden), "Sources/\(file) uses \(forbidden); use SluiceNetwork's EventLoop")
            }
        }
    }
}

import Foundation
import SluiceSystem
import Testing

@Suite struct SystemTests {
    @Test func clocksAgreeWithFoundationAndDispatch() {
        let wall = wallClockMilliseconds()
        #expect(abs(wall - Int64(Date().timeIntervalSince1970 * 1_000)) < 1_000)
        let monotonic = monotonicMilliseconds()
        #expect(abs(monotonic - Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)) < 1_000)
        #expect(monotonicMilliseconds() >= monotonic)
    }

    @Test func errnoTextNamesTheError() {
        #expect(errnoText(ENOENT) == "No such file or directory")
        #expect(
            SystemError("cannot open", path: "/x", number: EACCES).description == "cannot open /x: Permission denied")
    }

    @Test func parentDirectoryDropsTheLastComponent() {
        #expect(parentDirectory(of: "/run/sluice/sluice.sock") == "/run/sluice")
        #expect(parentDirectory(of: "/sluice.sock") == "/")
        #expect(parentDirectory(of: "sluice.sock") == "")
        #expect(parentDirectory(of: "a//b/") == "a")
    }

    @Test func makeDirectoryCreatesParentsWithTheMode() throws {
        let root = NSTemporaryDirectory() + "sluice-system-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try makeParentDirectory(of: root + "/a/b/file.sock", mode: 0o700)
        var info = stat()
        #expect(stat(root + "/a/b", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)
        try makeDirectory(root + "/a/b", mode: 0o700)
        #expect(FileManager.default.createFile(atPath: root + "/f", contents: nil))
        #expect(throws: SystemError.self) { try makeDirectory(root + "/f/g", mode: 0o700) }
    }
}

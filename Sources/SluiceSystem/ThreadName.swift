#if canImport(Glibc)
    import Glibc
#endif

/// Names the calling thread as `/proc/PID/task/*/comm` shows it (Linux keeps 15 bytes).
///
/// Written to `/proc/thread-self/comm`, since Swift's Glibc module has no
/// `pthread_setname_np` and Foundation's `Thread.name` reaches the kernel only when it wins
/// a race with the thread's start.
public func nameCurrentThread(_ name: String) {
    let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return }
    defer { close(descriptor) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
}

#if canImport(Glibc)
    import Glibc
#endif

/// Creates `path` and any missing parents with `mode` (the umask applies); an existing directory is fine.
public func makeDirectory(_ path: String, mode: mode_t) throws(SystemError) {
    guard !path.isEmpty else { return }
    var info = stat()
    if stat(path, &info) == 0 {
        guard info.st_mode & S_IFMT == S_IFDIR else { throw SystemError("cannot create", path: path, number: ENOTDIR) }
        return
    }
    let parent = parentDirectory(of: path)
    if !parent.isEmpty && parent != path { try makeDirectory(parent, mode: mode) }
    if mkdir(path, mode) != 0 && errno != EEXIST { throw SystemError("cannot create", path: path) }
}

/// Creates the directory that holds the file `path` (and its parents) with `mode`, if it is missing.
public func makeParentDirectory(of path: String, mode: mode_t) throws(SystemError) {
    try makeDirectory(parentDirectory(of: path), mode: mode)
}

/// `path` without its last component and trailing slashes: `/run/sluice` for `/run/sluice/sluice.sock`.
public func parentDirectory(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "" }
    if slash == trimmed.startIndex { return "/" }
    var parent = trimmed[..<slash]
    while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
    return String(parent)
}

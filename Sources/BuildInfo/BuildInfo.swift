/// What `plainsight --version` says about the build itself.
public enum BuildInfo {
    /// The git commit the binary was built from (12 hex digits, `-dirty` when tracked files
    /// differed from it), or "unknown" when the source was not a git checkout. Written by the
    /// BuildCommit plugin at each build.
    public static let commit: String = generatedCommit
}

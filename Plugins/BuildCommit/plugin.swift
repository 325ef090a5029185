import Foundation
import PackagePlugin

/// Writes the git commit being built into the `BuildInfo` target, for `plainsight --version`.
/// A prebuild command, so it runs at every build and the commit is never stale; the file is
/// rewritten only when the commit changes, so an unchanged tree recompiles nothing. Outside a git
/// checkout of this package (a tarball, no git, a checkout owned by another user) the commit is
/// "unknown" and the build still succeeds.
@main
struct BuildCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        return [.prebuildCommand(
            displayName: "Reading the git commit of \(context.package.directoryURL.lastPathComponent)",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", script, "build-commit", context.package.directoryURL.path, output.path],
            outputFilesDirectory: output)]
    }

    // The top-level check keeps a tarball unpacked inside some other repository from taking that
    // repository's commit. `-dirty`: the tree differs from the commit in tracked files.
    private var script: String {
        #"""
        set -u
        dir=$1 out=$2
        mkdir -p "$out" || exit 1
        commit=unknown
        if command -v git >/dev/null 2>&1 \
           && top=$(git -C "$dir" rev-parse --show-toplevel 2>/dev/null) \
           && [ "$(cd "$top" && pwd -P)" = "$(cd "$dir" && pwd -P)" ] \
           && head=$(git -C "$dir" rev-parse --short=12 HEAD 2>/dev/null); then
          commit=$head
          if [ -n "$(GIT_OPTIONAL_LOCKS=0 git -C "$dir" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
            commit=$commit-dirty
          fi
        fi
        file=$out/GeneratedCommit.swift
        text="let generatedCommit = \"$commit\""
        if [ ! -f "$file" ] || [ "$(cat "$file")" != "$text" ]; then
          printf '%s\n' "$text" >"$file"
        fi
        """#
    }
}

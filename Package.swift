// swift-tools-version:6.2
import PackageDescription

// The modules that read packet bytes: every unsafe use is marked and argued (SE-0458), and an
// unmarked one fails the build.
let packetBytes: [SwiftSetting] = [.strictMemorySafety(), .treatWarning("StrictMemorySafety", as: .error)]

let package = Package(
    name: "plainsight",
    products: [
        .executable(name: "plainsight", targets: ["plainsight"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        // Syslog over TLS (tls:// targets): the system's OpenSSL, Debian-maintained.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // Compressed captures (-r x.pcap.gz, .zst, .xz), decompressed as they are read.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLzma", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        .target(name: "CChecksum"),
        .target(name: "Wire", dependencies: ["CChecksum"], swiftSettings: packetBytes),
        .target(name: "CPrefetch"),
        .target(name: "Reassembly", dependencies: ["Wire", "CPrefetch"], swiftSettings: packetBytes),
        .target(name: "MailAuth", swiftSettings: packetBytes),
        .target(name: "Engine", dependencies: ["Wire", "Reassembly", "MailAuth", "CPrefetch"], swiftSettings: packetBytes),
        .target(name: "Alerts", dependencies: [
            "Engine", "Wire", "Reassembly", "MailAuth", "COpenSSL", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(
            name: "Capture", dependencies: ["CPcap", "CZlib", "CZstd", "CLzma", "Engine", "Wire"],
            swiftSettings: packetBytes),
        // The git commit for --version, read at every build by the plugin ("unknown" without git).
        .plugin(name: "BuildCommit", capability: .buildTool()),
        .target(name: "BuildInfo", plugins: ["BuildCommit"]),
        .target(name: "Inventory", dependencies: [
            "Engine", "Reassembly", "MailAuth", "Alerts", "Wire", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .executableTarget(name: "plainsight", dependencies: [
            "Capture", "Engine", "Alerts", "Wire", "MailAuth", "Inventory", "BuildInfo",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Fuzzing (issue 5): the targets are a library so `swift test` replays every seed and crash
        // through them; the libFuzzer build of `plainsight-fuzz` is made only by scripts/fuzz.
        .target(name: "CFuzzerDriver"),
        .target(name: "FuzzTargets", dependencies: ["Wire", "Reassembly", "MailAuth", "Engine", "Capture"]),
        .executableTarget(name: "plainsight-fuzz", dependencies: ["FuzzTargets", "CFuzzerDriver"]),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "ReassemblyTests", dependencies: ["Reassembly", "Wire"]),
        .testTarget(name: "MailAuthTests", dependencies: ["MailAuth"]),
        .testTarget(name: "AlertsTests", dependencies: ["Alerts", "Engine", "Reassembly", "MailAuth", "Wire"]),
        // The engine and the capture readers alone, in process: no binary, no root, no namespaces.
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Reassembly", "Wire"]),
        // Capture files built and taken apart, and records read two ways: for both test targets below.
        .target(name: "TestSupport", dependencies: ["Capture"], path: "Tests/TestSupport"),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "Wire", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Engine", "Capture", "Alerts", "TestSupport"]),
        .testTarget(name: "InventoryTests", dependencies: ["Inventory", "Engine", "Reassembly", "MailAuth", "Wire"]),
        // Live capture (issue 3): namespaces, real servers, the binary as root; skips without root.
        .testTarget(name: "LiveTests", dependencies: ["Engine", "Reassembly", "Wire"]),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["FuzzTargets"]),
    ]
)

// swift-tools-version:6.0
import PackageDescription

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
        .target(name: "Wire"),
        .target(name: "Reassembly", dependencies: ["Wire"]),
        .target(name: "MailAuth"),
        .target(name: "Alerts", dependencies: [
            "Wire", "MailAuth", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Engine", dependencies: ["Wire", "Reassembly", "MailAuth", "Alerts"]),
        .target(name: "Capture", dependencies: ["CPcap", "Engine", "Wire"]),
        .executableTarget(name: "plainsight", dependencies: [
            "Capture", "Engine", "Alerts", "Wire", "MailAuth",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "ReassemblyTests", dependencies: ["Reassembly", "Wire"]),
        .testTarget(name: "MailAuthTests", dependencies: ["MailAuth"]),
        .testTarget(name: "AlertsTests", dependencies: ["Alerts", "MailAuth", "Wire"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Engine", "Capture", "Alerts"]),
    ]
)

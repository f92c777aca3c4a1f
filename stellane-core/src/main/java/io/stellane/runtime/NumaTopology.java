package io.stellane.runtime;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Which CPUs belong to which NUMA node, read from {@code /sys/devices/system/node/node*}/cpulist.
 * The root is the system property {@code stellane.sysfs} (default {@code /sys}), so tests can
 * hand in a machine with several nodes. Immutable.
 */
record NumaTopology(List<List<Integer>> nodes) {

    public NumaTopology {
        nodes = nodes.stream().map(List::copyOf).toList();
    }

    /** The topology of this machine (one node holding every CPU when sysfs says nothing). */
    public static NumaTopology detect() {
        return detect(Path.of(System.getProperty("stellane.sysfs", "/sys")));
    }

    public static NumaTopology detect(Path sysRoot) {
        Path dir = sysRoot.resolve("devices/system/node");
        List<List<Integer>> nodes = new ArrayList<>();
        if (Files.isDirectory(dir)) {
            try (Stream<Path> entries = Files.list(dir)) {
                List<Path> nodeDirs = entries
                        .filter(p -> p.getFileName().toString().matches("node\\d+"))
                        .sorted((a, b) -> Integer.compare(nodeIndex(a), nodeIndex(b)))
                        .toList();
                for (Path node : nodeDirs) {
                    Path cpulist = node.resolve("cpulist");
                    if (Files.isReadable(cpulist)) {
                        nodes.add(parseCpuList(Files.readString(cpulist).trim()));
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read NUMA topology under " + dir, e);
            }
        }
        if (nodes.isEmpty()) {
            List<Integer> all = new ArrayList<>();
            for (int i = 0; i < java.lang.Runtime.getRuntime().availableProcessors(); i++) {
                all.add(i);
            }
            nodes.add(all);
        }
        return new NumaTopology(nodes);
    }

    /** Parses the kernel's list format, e.g. {@code 0-3,8,10-11}. */
    public static List<Integer> parseCpuList(String text) {
        List<Integer> cpus = new ArrayList<>();
        if (text.isBlank()) {
            return cpus;
        }
        for (String part : text.split(",")) {
            String p = part.trim();
            int dash = p.indexOf('-');
            if (dash < 0) {
                cpus.add(Integer.parseInt(p));
            } else {
                int from = Integer.parseInt(p.substring(0, dash)), to = Integer.parseInt(p.substring(dash + 1));
                for (int c = from; c <= to; c++) {
                    cpus.add(c);
                }
            }
        }
        return cpus;
    }

    /** The node of {@code cpu}, or -1. */
    public int nodeOf(int cpu) {
        for (int n = 0; n < nodes.size(); n++) {
            if (nodes.get(n).contains(cpu)) {
                return n;
            }
        }
        return -1;
    }

    /** Every CPU, node by node: placing worker i on the i-th keeps neighbours on one node. */
    public List<Integer> cpusByNode() {
        return nodes.stream().flatMap(List::stream).toList();
    }

    private static int nodeIndex(Path p) {
        return Integer.parseInt(p.getFileName().toString().substring(4));
    }
}

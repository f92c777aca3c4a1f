/** The runtime's and the server's numbers as Micrometer meters, Prometheus, and the blocked-worker detector. */
module io.stellane.metrics {
    requires transitive io.stellane.core;
    requires transitive micrometer.core;
    requires transitive micrometer.registry.prometheus;
    requires java.management;

    exports io.stellane.metrics;
}

/**
 * The live runtime page, served by a server and fed by the metrics binding; and {@code io.stellane.app}, a
 * service's lifecycle (start, management listener, health, graceful stop) on the server and the metrics.
 */
module io.stellane.dashboard {
    requires transitive io.stellane.metrics;
    requires transitive io.stellane.server;

    exports io.stellane.app;
    exports io.stellane.dashboard;
    opens io.stellane.dashboard to com.fasterxml.jackson.databind; // the page's JSON records
}

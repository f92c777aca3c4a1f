/** The live page of a service and its runtime, served by a server and fed by the metrics binding. */
module io.stellane.dashboard {
    requires transitive io.stellane.metrics;
    requires transitive io.stellane.server;
    requires java.management; // heap and collector beans

    exports io.stellane.dashboard;
    opens io.stellane.dashboard to com.fasterxml.jackson.databind; // the page's JSON records
}

/**
 * A service's lifecycle on the default runtime: starts the runtime and its servers from config, serves
 * health, stats, metrics and the dashboard on a management listener, and stops gracefully on SIGTERM.
 */
module io.stellane.app {
    requires transitive io.stellane.dashboard;
    requires static io.stellane.cluster; // App.Builder.durableTasks, for services that have stellane-cluster

    exports io.stellane.app;
}

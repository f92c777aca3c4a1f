/**
 * Several Stellane nodes sharing one PostgreSQL: the {@code postgres} recovery store (one journal for
 * every node, leases, adoption of a dead node's requests, idempotency keys shared by all) and durable
 * tasks run by whichever node has room.
 */
module io.stellane.cluster {
    requires transitive io.stellane.recovery;
    requires transitive java.sql;
    requires com.zaxxer.hikari;
    requires org.postgresql.jdbc;
    requires org.slf4j;

    exports io.stellane.cluster;

    provides io.stellane.recovery.spi.RecoveryStoreProvider with io.stellane.cluster.PostgresStoreProvider;
}

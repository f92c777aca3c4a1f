package io.stellane.cluster;

import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.spi.RecoveryStoreProvider;

/**
 * The recovery store {@code "postgres"}: one journal shared by every node on a PostgreSQL database
 * ({@link RecoveryStoreConfig#database()}). Found by {@link io.stellane.recovery.RecoveryStores}
 * when this module is on the class or module path; see docs/SCALING.md.
 */
public final class PostgresStoreProvider implements RecoveryStoreProvider {
    @Override
    public String name() {
        return "postgres";
    }

    /**
     * Joins the cluster as {@code config.database().nodeId()} and opens the shared journal.
     *
     * @throws io.stellane.recovery.RecoveryException when the database is unreachable, its schema is
     *         foreign or newer, or its journal was written with another encryption key
     */
    @Override
    public RecoveryStore create(RecoveryStoreConfig config) {
        return new PostgresStore(config);
    }
}

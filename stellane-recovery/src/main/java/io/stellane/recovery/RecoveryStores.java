package io.stellane.recovery;

import io.stellane.Registry;
import io.stellane.recovery.spi.JournalStorageProvider;
import io.stellane.recovery.spi.RecoveryStoreProvider;
import java.util.Objects;
import java.util.Set;

/**
 * Recovery stores by name, found as {@link RecoveryStoreProvider}s through
 * {@link java.util.ServiceLoader} on first use: a {@link Journal} on each journal storage
 * ({@code "mmap"}, {@code "memory"}, {@code "rocksdb"} with its module on the class path, each a
 * {@link JournalStorageProvider}), {@code "postgres"} with {@code stellane-cluster} on the class path,
 * and whatever {@link #register} adds, which wins over discovery. Thread-safe.
 */
public final class RecoveryStores {
    private static final Registry<RecoveryStoreFactory> REGISTRY =
            Registry.<RecoveryStoreFactory, RecoveryStoreProvider>of("recovery store", RecoveryStoreProvider.class,
                    RecoveryStoreProvider::name,
            (name, message) -> new RecoveryException("recovery store \"" + name + "\": " + message));

    private RecoveryStores() {
    }

    /** Registers (or replaces) the factory for {@code name}. */
    public static void register(String name, RecoveryStoreFactory factory) {
        REGISTRY.register(name, factory);
    }

    /**
     * Opens the store registered as {@code name}.
     *
     * @throws RecoveryException if no store has that name (the message lists the available ones)
     */
    public static RecoveryStore create(String name, RecoveryStoreConfig config) {
        Objects.requireNonNull(config, "config");
        return REGISTRY.get(Objects.requireNonNull(name, "name")).create(config);
    }

    /** Registered names, sorted. */
    public static Set<String> list() {
        return REGISTRY.names();
    }

    /** Whether a store is registered as {@code name}. */
    public static boolean has(String name) {
        return REGISTRY.has(name);
    }
}

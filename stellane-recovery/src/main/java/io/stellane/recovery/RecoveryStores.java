package io.stellane.recovery;

import io.stellane.recovery.spi.RecoveryStoreProvider;
import java.util.Collections;
import java.util.Objects;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Registry of recovery store backends by name, like the runtime's backend registry. Providers on
 * the class path ({@link RecoveryStoreProvider} via {@link ServiceLoader}) are discovered on first
 * use; {@link #register} adds or replaces one explicitly and wins over discovery. Thread-safe.
 */
public final class RecoveryStores {
    private static final ConcurrentHashMap<String, RecoveryStoreFactory> FACTORIES = new ConcurrentHashMap<>();
    private static volatile boolean discovered;

    private RecoveryStores() {
    }

    /** Registers (or replaces) the factory for {@code name}. */
    public static void register(String name, RecoveryStoreFactory factory) {
        Objects.requireNonNull(factory, "factory");
        if (Objects.requireNonNull(name, "name").isBlank()) {
            throw new IllegalArgumentException("store name is blank");
        }
        discover();
        FACTORIES.put(name, factory);
    }

    /**
     * Opens the store registered as {@code name}.
     *
     * @throws RecoveryException if no store has that name (the message lists the available ones)
     */
    public static RecoveryStore create(String name, RecoveryStoreConfig config) {
        Objects.requireNonNull(config, "config");
        discover();
        RecoveryStoreFactory factory = FACTORIES.get(Objects.requireNonNull(name, "name"));
        if (factory == null) {
            throw new RecoveryException("unknown recovery store \"" + name + "\"; available: " + list());
        }
        return factory.create(config);
    }

    /** Registered names, sorted. */
    public static Set<String> list() {
        discover();
        return Collections.unmodifiableSortedSet(new TreeSet<>(FACTORIES.keySet()));
    }

    /** Whether a store is registered as {@code name}. */
    public static boolean has(String name) {
        discover();
        return FACTORIES.containsKey(name);
    }

    private static void discover() {
        if (discovered) {
            return;
        }
        synchronized (RecoveryStores.class) {
            if (discovered) {
                return;
            }
            for (RecoveryStoreProvider p : ServiceLoader.load(RecoveryStoreProvider.class,
                    RecoveryStores.class.getClassLoader())) {
                FACTORIES.putIfAbsent(p.name(), p);
            }
            discovered = true;
        }
    }
}

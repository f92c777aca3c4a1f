package io.stellane;

import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * Named factories for one kind of pluggable part: event-loop backends, task schedulers, journal
 * storages. Every kind is found the same way. Precedence, lowest first: the built-ins, then the
 * providers {@link ServiceLoader} finds on the class or module path, then {@link #register} at run
 * time; a later entry under a name replaces an earlier one. An unknown name fails with the kind, the
 * name and every registered name.
 *
 * @param <F> the factory a name stands for
 */
public final class Registry<F> {
    private final String kind;
    private final Class<? extends F> providerType;
    private final Function<Object, String> nameOf; // applied to the providers ServiceLoader finds
    private final BiFunction<String, String, ? extends StellaneException> error;
    private final Map<String, F> builtIns = new TreeMap<>();
    private final Map<String, F> entries = new TreeMap<>(); // guarded by this
    private boolean discovered; // guarded by this

    private Registry(String kind, Class<? extends F> providerType, Function<Object, String> nameOf,
            BiFunction<String, String, ? extends StellaneException> error) {
        this.kind = kind;
        this.providerType = providerType;
        this.nameOf = nameOf;
        this.error = error;
    }

    /**
     * A registry of {@code kind} ("backend", "journal storage") whose providers implement
     * {@code providerType} and are named by {@code nameOf}; {@code error} builds the exception for a
     * name and a message.
     */
    public static <F, P extends F> Registry<F> of(String kind, Class<P> providerType, Function<? super P, String> nameOf,
            BiFunction<String, String, ? extends StellaneException> error) {
        Objects.requireNonNull(nameOf, "nameOf");
        return new Registry<>(Objects.requireNonNull(kind, "kind"), Objects.requireNonNull(providerType, "providerType"),
                provider -> nameOf.apply(providerType.cast(provider)), Objects.requireNonNull(error, "error"));
    }

    /** Adds a built-in under {@code name}; built-ins cannot be unregistered. Call while building the registry. */
    public synchronized Registry<F> builtIn(String name, F factory) {
        builtIns.put(checkName(name), Objects.requireNonNull(factory, "factory"));
        entries.put(name, factory);
        return this;
    }

    /** Registers {@code factory} as {@code name}, replacing what was there. */
    public synchronized void register(String name, F factory) {
        Objects.requireNonNull(factory, "factory");
        discover();
        entries.put(checkName(name), factory);
    }

    /**
     * Removes what was registered as {@code name}; a built-in replaced at run time comes back.
     * Returns whether anything was removed.
     */
    public synchronized boolean unregister(String name) {
        discover();
        F builtIn = builtIns.get(name);
        if (builtIn != null) {
            if (entries.get(name) == builtIn) {
                throw error.apply(name, "built-in " + kind + "s cannot be unregistered");
            }
            entries.put(name, builtIn);
            return true;
        }
        return entries.remove(name) != null;
    }

    /** The factory registered as {@code name}; fails naming every registered name when there is none. */
    public F get(String name) {
        return find(name).orElseThrow(() -> error.apply(name, "unknown " + kind + "; registered: " + names()));
    }

    /** The factory registered as {@code name}, if any. */
    public synchronized Optional<F> find(String name) {
        discover();
        return Optional.ofNullable(entries.get(Objects.requireNonNull(name, "name")));
    }

    /** Every registered name, sorted. */
    public synchronized SortedSet<String> names() {
        discover();
        return Collections.unmodifiableSortedSet(new TreeSet<>(entries.keySet()));
    }

    /** The registered factories by name, sorted. */
    public synchronized Map<String, F> entries() {
        discover();
        return Collections.unmodifiableMap(new TreeMap<>(entries));
    }

    /** Whether {@code name} is registered. */
    public boolean has(String name) {
        return find(name).isPresent();
    }

    /** The built-in names. */
    public synchronized Set<String> builtInNames() {
        return Collections.unmodifiableSet(new TreeSet<>(builtIns.keySet()));
    }

    private String checkName(String name) {
        if (name == null || name.isBlank()) {
            throw error.apply(String.valueOf(name), "a " + kind + " needs a non-blank name");
        }
        return name;
    }

    // Lazily, so registries built in static initialisers do not load providers that need the registry.
    private void discover() {
        if (discovered) {
            return;
        }
        discovered = true;
        // a named module may only load services it declares it uses; a registry in another module adds that here
        Registry.class.getModule().addUses(providerType);
        for (F provider : ServiceLoader.load(providerType, providerType.getClassLoader())) {
            String name = nameOf.apply(provider);
            entries.put(checkName(name), provider);
        }
    }
}

package io.stellane.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Builds a {@link RuntimeConfig} from TOML and from {@code STELLANE_RUNTIME_*} environment variables;
 * every result is validated. Only the {@code [runtime]} table is read here: other tables belong to other
 * modules, which read them through {@link #readTomlTree(Path)}.
 *
 * <p>Environment variables are named {@code STELLANE_} + the TOML key upper-cased with dots and dashes
 * turned into underscores, e.g. {@code STELLANE_RUNTIME_PERFORMANCE_IDLE_TIMEOUT}; {@code STELLANE_RUNTIME_WORKERS}
 * is an alias of {@code STELLANE_RUNTIME_WORKER_THREADS}.
 *
 * <p>All methods are pure functions of their arguments (and of the file or process environment they
 * read): thread-safe.
 */
public final class ConfigLoader {

    /** The forms {@link #parseDuration} accepts, quoted in its error messages. */
    static final String DURATION_FORMS = "a number and a unit ns, us, ms, s, m or h, e.g. 100ns, 250us, 50ms, 1.5s, 1m, 1h";

    private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)(ns|us|ms|s|m|h)");
    private static final String ROOT_TABLE = "runtime";
    private static final String ENV_PREFIX = "STELLANE_RUNTIME_";
    private static final String STRING_SOURCE = "<toml string>";

    // Jackson mappers are thread-safe once configured, and this one is never reconfigured.
    private static final TomlMapper TOML = new TomlMapper();

    private ConfigLoader() {
    }

    /** The defaults overlaid with the file's {@code [runtime]} table, validated. */
    public static RuntimeConfig fromToml(Path file) {
        return overlayToml(RuntimeConfig.builder(), readTomlTree(file)).build().validate();
    }

    /** The defaults overlaid with the {@code [runtime]} table of a TOML document, validated. */
    public static RuntimeConfig fromTomlString(String toml) {
        return overlayToml(RuntimeConfig.builder(), readTomlTreeString(toml)).build().validate();
    }

    /** The defaults overlaid with the process environment, validated. */
    public static RuntimeConfig fromEnvironment() {
        return applyEnvironment(RuntimeConfig.defaults(), System.getenv());
    }

    /**
     * {@code base} overlaid with the {@code STELLANE_RUNTIME_*} entries of {@code env}, validated. Other
     * {@code STELLANE_*} variables are left to their modules; an unknown {@code STELLANE_RUNTIME_*} is an error.
     */
    public static RuntimeConfig applyEnvironment(RuntimeConfig base, Map<String, String> env) {
        return overlayEnv(base.toBuilder(), env).build().validate();
    }

    /** Defaults, then the file if not null, then the process environment; validated once at the end. */
    public static RuntimeConfig load(Path fileOrNull) {
        return load(fileOrNull, System.getenv());
    }

    // Validation waits until both sources are applied, so the environment can fix a bad file value.
    static RuntimeConfig load(Path fileOrNull, Map<String, String> env) {
        RuntimeConfig.Builder b = RuntimeConfig.builder();
        if (fileOrNull != null) {
            overlayToml(b, readTomlTree(fileOrNull));
        }
        return overlayEnv(b, env).build().validate();
    }

    /** The whole TOML document as a tree; unreadable files and syntax errors are {@link ConfigException}s. */
    public static JsonNode readTomlTree(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new ConfigException(file.toString(), "cannot read TOML file ("
                    + e.getClass().getSimpleName() + ": " + e.getMessage() + ")", e);
        }
        return parse(file.toString(), text);
    }

    /** The whole TOML document as a tree; syntax errors are {@link ConfigException}s. */
    public static JsonNode readTomlTreeString(String toml) {
        return parse(STRING_SOURCE, Objects.requireNonNull(toml, "toml"));
    }

    /**
     * Parses {@code 100ns}, {@code 250us}, {@code 50ms}, {@code 2s}, {@code 1.5s}, {@code 1m} or {@code 1h}.
     *
     * @param key  the key or variable the text came from, named in the exception
     * @throws ConfigException if the text is none of those forms or not a whole number of nanoseconds
     */
    public static Duration parseDuration(String key, String text) {
        Matcher m = DURATION.matcher(text == null ? "" : text.strip());
        if (!m.matches()) {
            throw new ConfigException(key, text, "expected a duration: " + DURATION_FORMS);
        }
        BigDecimal nanos = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(nanosPer(m.group(2))));
        try {
            return Duration.ofNanos(nanos.longValueExact());
        } catch (ArithmeticException e) {
            throw new ConfigException(key, text, "expected a whole number of nanoseconds below 292 years: "
                    + DURATION_FORMS);
        }
    }

    /** The forms {@link #parseSize} accepts, quoted in its error messages. */
    static final String SIZE_FORMS = "a number of bytes, or a number and a unit B, KiB, MiB or GiB, e.g. 65536, 64KiB, 4MiB";

    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(B|KiB|MiB|GiB)?");

    /**
     * Parses a byte size: {@code 65536}, {@code 64KiB}, {@code 4MiB}, {@code 1GiB}, {@code 512B}
     * (binary units only: {@code KB} would leave it open whether 1000 or 1024 was meant).
     *
     * @param key the key or variable the text came from, named in the exception
     * @throws ConfigException if the text is none of those forms or overflows a long
     */
    public static long parseSize(String key, String text) {
        Matcher m = SIZE.matcher(text == null ? "" : text.strip());
        if (!m.matches()) {
            throw new ConfigException(key, text, "expected a size: " + SIZE_FORMS);
        }
        String unit = m.group(2) == null ? "B" : m.group(2);
        int shift = switch (unit) {
            case "KiB" -> 10;
            case "MiB" -> 20;
            case "GiB" -> 30;
            default -> 0;
        };
        try {
            long n = Long.parseLong(m.group(1));
            if (n > Long.MAX_VALUE >> shift) {
                throw new NumberFormatException();
            }
            return n << shift;
        } catch (NumberFormatException e) {
            throw new ConfigException(key, text, "expected a size that fits in 63 bits: " + SIZE_FORMS);
        }
    }

    /** The inverse of {@link #parseDuration} in the largest exact unit, so messages echo what users write. */
    static String formatDuration(Duration d) {
        long nanos;
        try {
            nanos = d.toNanos();
        } catch (ArithmeticException e) {
            return d.toString();
        }
        for (String unit : List.of("h", "m", "s", "ms", "us")) {
            long per = nanosPer(unit);
            if (nanos != 0 && nanos % per == 0) {
                return nanos / per + unit;
            }
        }
        return nanos == 0 ? "0s" : nanos + "ns";
    }

    private static long nanosPer(String unit) {
        return switch (unit) {
            case "ns" -> 1L;
            case "us" -> 1_000L;
            case "ms" -> 1_000_000L;
            case "s" -> 1_000_000_000L;
            case "m" -> 60_000_000_000L;
            case "h" -> 3_600_000_000_000L;
            default -> throw new IllegalArgumentException(unit);
        };
    }

    private static JsonNode parse(String source, String text) {
        try {
            JsonNode root = TOML.readTree(text);
            return root == null || root.isMissingNode() ? TOML.createObjectNode() : root;
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            String where = at != null && at.getLineNr() > 0
                    ? " at line " + at.getLineNr() + ", column " + at.getColumnNr() : "";
            throw new ConfigException(source, "TOML syntax error" + where + ": " + e.getOriginalMessage(), e);
        }
    }

    private static RuntimeConfig.Builder overlayToml(RuntimeConfig.Builder b, JsonNode root) {
        JsonNode runtime = root.get(ROOT_TABLE);
        if (runtime != null) {
            overlayTable(b, ROOT_TABLE, runtime);
        }
        return b;
    }

    // Tables are derived from the key paths, so [runtime.recovery] needs no code of its own.
    private static void overlayTable(RuntimeConfig.Builder b, String table, JsonNode node) {
        if (!node.isObject()) {
            throw new ConfigException(table, node, "expected a table with keys " + String.join(", ", entriesOf(table)));
        }
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            String path = table + "." + e.getKey();
            Optional<ConfigKey<?>> key = ConfigKey.byPath(path);
            if (key.isPresent()) {
                key.get().applyToml(b, e.getValue());
            } else if (isTable(path)) {
                overlayTable(b, path, e.getValue());
            } else {
                throw new ConfigException(path, e.getValue(),
                        "unknown key; allowed keys in [" + table + "]: " + String.join(", ", entriesOf(table)));
            }
        }
    }

    private static boolean isTable(String path) {
        return ConfigKey.ALL.stream().anyMatch(k -> k.path().startsWith(path + "."));
    }

    /** The keys and sub-tables directly inside {@code table} that a file may set, in table order. */
    private static List<String> entriesOf(String table) {
        String prefix = table + ".";
        return ConfigKey.ALL.stream()
                .filter(k -> !k.type().secret())
                .map(ConfigKey::path)
                .filter(p -> p.startsWith(prefix))
                .map(p -> p.substring(prefix.length()).split("\\.", 2)[0])
                .distinct()
                .toList();
    }

    private static RuntimeConfig.Builder overlayEnv(RuntimeConfig.Builder b, Map<String, String> env) {
        // sorted, so that with several bad variables the same one is reported every run
        Map<String, String> ours = new TreeMap<>();
        env.forEach((name, value) -> {
            if (name.startsWith(ENV_PREFIX)) {
                ours.put(name, value);
            }
        });
        for (String name : ours.keySet()) {
            if (ConfigKey.ALL.stream().noneMatch(k -> k.envName().equals(name) || k.aliases().contains(name))) {
                throw new ConfigException(name, ours.get(name), "unknown variable; known " + ENV_PREFIX
                        + "* variables: " + knownVariables());
            }
        }
        for (ConfigKey<?> key : ConfigKey.ALL) {
            String canonical = ours.get(key.envName());
            for (String alias : key.aliases()) {
                String value = ours.get(alias);
                if (value != null && canonical != null && !value.equals(canonical)) {
                    // two spellings with two values: guessing which one was meant would hide a mistake
                    throw new ConfigException(alias, value, "conflicts with " + key.envName() + "=" + canonical
                            + "; set only one of them");
                }
                if (value != null) {
                    key.applyText(b, alias, value);
                }
            }
            if (canonical != null) {
                key.applyText(b, key.envName(), canonical);
            }
        }
        return b;
    }

    private static String knownVariables() {
        return ConfigKey.ALL.stream()
                .flatMap(k -> Stream.concat(Stream.of(k.envName()), k.aliases().stream()))
                .collect(Collectors.joining(", "));
    }
}

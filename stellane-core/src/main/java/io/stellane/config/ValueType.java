package io.stellane.config;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.scheduler.TaskSchedulingStrategy;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How one kind of config value is read from a TOML node and from an environment variable's text,
 * and how it is shown back in error messages. Stateless, hence thread-safe.
 *
 * @param <T> the Java type of the value
 */
interface ValueType<T> {

    /** What a value of this type looks like, for "wrong type" messages, e.g. {@code an integer}. */
    String expected();

    /** Converts a TOML value; {@code key} is the full TOML key, used in the exception. */
    T fromToml(String key, JsonNode node);

    /** Converts an environment variable's text; {@code key} is the variable's name. */
    T fromText(String key, String text);

    /** The value as a user would write it, so messages echo the user's spelling. */
    default Object display(T value) {
        return value;
    }

    /** Whether values of this type are never shown, nor read from a file that may be shared. */
    default boolean secret() {
        return false;
    }

    ValueType<String> STRING = new ValueType<>() {
        @Override public String expected() { return "a string"; }

        @Override public String fromToml(String key, JsonNode node) {
            if (!node.isTextual()) {
                throw wrongType(key, node, this);
            }
            return node.textValue();
        }

        @Override public String fromText(String key, String text) { return text; }
    };

    ValueType<Integer> INTEGER = new ValueType<>() {
        @Override public String expected() { return "an integer"; }

        @Override public Integer fromToml(String key, JsonNode node) {
            // canConvertToInt() alone would accept 1.5 (DecimalNode), which TOML means as a float
            if (!node.isIntegralNumber()) {
                throw wrongType(key, node, this);
            }
            if (!node.canConvertToInt()) {
                throw new ConfigException(key, node, "expected " + expected() + " that fits in 32 bits");
            }
            return node.intValue();
        }

        @Override public Integer fromText(String key, String text) {
            try {
                return Integer.parseInt(text.strip());
            } catch (NumberFormatException e) {
                throw new ConfigException(key, text, "expected " + expected());
            }
        }
    };

    /** {@code worker_threads}: an integer, or {@code "auto"} ({@link RuntimeConfig#AUTO_WORKERS}). */
    ValueType<Integer> WORKERS = new ValueType<>() {
        @Override public String expected() { return "an integer or \"auto\""; }

        @Override public Integer fromToml(String key, JsonNode node) {
            if (node.isTextual() && node.textValue().strip().equalsIgnoreCase("auto")) {
                return RuntimeConfig.AUTO_WORKERS;
            }
            if (!node.isIntegralNumber() || !node.canConvertToInt()) {
                throw wrongType(key, node, this);
            }
            return counted(key, node, node.intValue());
        }

        @Override public Integer fromText(String key, String text) {
            if (text.strip().equalsIgnoreCase("auto")) {
                return RuntimeConfig.AUTO_WORKERS;
            }
            return counted(key, text, INTEGER.fromText(key, text));
        }

        /** A count as written; only the word "auto" means {@link RuntimeConfig#AUTO_WORKERS}. */
        private Integer counted(String key, Object written, int n) {
            if (n == RuntimeConfig.AUTO_WORKERS) {
                throw new ConfigException(key, written, "an integer from 1 to 1024, or \"auto\"");
            }
            return n;
        }

        @Override public Object display(Integer value) {
            return value == RuntimeConfig.AUTO_WORKERS ? "auto" : value;
        }
    };

    ValueType<Boolean> BOOLEAN = new ValueType<>() {
        @Override public String expected() { return "a boolean (true or false)"; }

        @Override public Boolean fromToml(String key, JsonNode node) {
            if (!node.isBoolean()) {
                throw wrongType(key, node, this);
            }
            return node.booleanValue();
        }

        // Only true/false: "yes", "1" or "on" are typos as often as intentions.
        @Override public Boolean fromText(String key, String text) {
            return switch (text.strip().toLowerCase(Locale.ROOT)) {
                case "true" -> true;
                case "false" -> false;
                default -> throw new ConfigException(key, text, "expected true or false (case-insensitive)");
            };
        }
    };

    ValueType<Duration> DURATION = new ValueType<>() {
        @Override public String expected() {
            return "a duration string (" + ConfigLoader.DURATION_FORMS + ") or an integer number of milliseconds";
        }

        @Override public Duration fromToml(String key, JsonNode node) {
            if (node.isTextual()) {
                return ConfigLoader.parseDuration(key, node.textValue());
            }
            if (node.isIntegralNumber() && node.canConvertToLong()) {
                return Duration.ofMillis(node.longValue());
            }
            throw wrongType(key, node, this);
        }

        // A bare integer means milliseconds here too, so a value reads the same in TOML and in the environment.
        @Override public Duration fromText(String key, String text) {
            String s = text.strip();
            if (!s.isEmpty() && s.chars().allMatch(Character::isDigit)) {
                try {
                    return Duration.ofMillis(Long.parseLong(s));
                } catch (NumberFormatException e) {
                    throw new ConfigException(key, text, "expected " + expected());
                }
            }
            return ConfigLoader.parseDuration(key, text);
        }

        @Override public Object display(Duration value) {
            return ConfigLoader.formatDuration(value);
        }
    };

    ValueType<TaskSchedulingStrategy> STRATEGY = new ValueType<>() {
        private static final String NAMES = Arrays.stream(TaskSchedulingStrategy.values())
                .map(s -> s.name().toLowerCase(Locale.ROOT))
                .collect(Collectors.joining(", "));

        @Override public String expected() { return "one of " + NAMES + " (case-insensitive)"; }

        @Override public TaskSchedulingStrategy fromToml(String key, JsonNode node) {
            if (!node.isTextual()) {
                throw wrongType(key, node, this);
            }
            return fromText(key, node.textValue());
        }

        @Override public TaskSchedulingStrategy fromText(String key, String text) {
            for (TaskSchedulingStrategy s : TaskSchedulingStrategy.values()) {
                if (s.name().equalsIgnoreCase(text.strip())) {
                    return s;
                }
            }
            throw new ConfigException(key, text, "expected " + expected());
        }

        @Override public Object display(TaskSchedulingStrategy value) {
            return value.name().toLowerCase(Locale.ROOT);
        }
    };

    ValueType<Path> PATH = new ValueType<>() {
        @Override public String expected() { return "a path string"; }

        @Override public Path fromToml(String key, JsonNode node) {
            if (!node.isTextual()) {
                throw wrongType(key, node, this);
            }
            return fromText(key, node.textValue());
        }

        @Override public Path fromText(String key, String text) {
            try {
                return Path.of(text);
            } catch (InvalidPathException e) {
                throw new ConfigException(key, text, "expected a valid path (" + e.getReason() + ")");
            }
        }

        @Override public Object display(Path value) {
            return value.toString();
        }
    };

    /** A TOML array of strings; in the environment, comma-separated (blanks around commas dropped). */
    ValueType<List<String>> STRING_LIST = new ValueType<>() {
        @Override public String expected() { return "an array of strings"; }

        @Override public List<String> fromToml(String key, JsonNode node) {
            if (!node.isArray()) {
                throw wrongType(key, node, this);
            }
            List<String> out = new ArrayList<>(node.size());
            for (JsonNode item : node) {
                if (!item.isTextual()) {
                    throw new ConfigException(key, node, "expected " + expected() + ", got an element that is "
                            + describe(item));
                }
                out.add(item.textValue());
            }
            return List.copyOf(out);
        }

        @Override public List<String> fromText(String key, String text) {
            return Arrays.stream(text.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
        }

        // each item quoted, the list not: ["a b", "c"], as TOML writes it
        @Override public Object display(List<String> value) {
            return value.stream().map(v -> '"' + v + '"').toList();
        }
    };

    /**
     * A secret: read only from the environment (a TOML file is often shared, checked in or left
     * readable), shown as {@value Secret#HIDDEN}.
     */
    ValueType<Secret> SECRET = new ValueType<>() {
        @Override public String expected() { return "a secret"; }

        @Override public Secret fromToml(String key, JsonNode node) {
            throw new ConfigException(key, Secret.HIDDEN, "a secret is never read from a TOML file");
        }

        @Override public Secret fromText(String key, String text) { return Secret.of(text); }

        @Override public boolean secret() { return true; }
    };

    private static ConfigException wrongType(String key, JsonNode node, ValueType<?> type) {
        // the node, not its text: its toString() keeps TOML's quoting, so 8 and "8" are told apart
        return new ConfigException(key, node, "expected " + type.expected() + ", got " + describe(node));
    }

    private static String describe(JsonNode node) {
        if (node.isTextual()) return "a string";
        if (node.isIntegralNumber()) return "an integer";
        if (node.isNumber()) return "a float";
        if (node.isBoolean()) return "a boolean";
        if (node.isObject()) return "a table";
        if (node.isArray()) return "an array";
        return node.getNodeType().name().toLowerCase(Locale.ROOT);
    }
}

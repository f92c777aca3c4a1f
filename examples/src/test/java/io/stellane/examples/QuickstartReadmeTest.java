package io.stellane.examples;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The README's quick start shows {@code examples/quickstart/} as it is: the project that
 * {@code scripts/consumer-check.sh} builds against installed artifacts is the code a reader copies.
 */
class QuickstartReadmeTest {
    private static final Path ROOT = Path.of(System.getProperty("basedir", "."), "..");
    private static final Path QUICKSTART = ROOT.resolve("examples/quickstart/src");

    @Test
    void theReadmeShowsTheQuickstartProjectsSources() throws IOException {
        List<String> blocks = javaBlocksOf(section(Files.readString(ROOT.resolve("README.md")), "## Quick start"));
        assertThat(blocks).containsExactly(
                Files.readString(QUICKSTART.resolve("main/java/com/example/quickstart/Notes.java")),
                Files.readString(QUICKSTART.resolve("test/java/com/example/quickstart/NotesTest.java")));
    }

    @Test
    void theQuickstartProjectDependsOnWhatTheReadmeLists() throws IOException {
        String pom = Files.readString(ROOT.resolve("examples/quickstart/pom.xml"));
        String readme = section(Files.readString(ROOT.resolve("README.md")), "## Quick start");
        for (String artifact : List.of("stellane-app", "slf4j-simple", "stellane-testing")) {
            assertThat(pom).as("examples/quickstart/pom.xml").contains("<artifactId>" + artifact + "</artifactId>");
            assertThat(readme).as("README quick start").contains("<artifactId>" + artifact + "</artifactId>");
        }
    }

    /** From the heading that starts with {@code heading} to the next second-level heading. */
    private static String section(String markdown, String heading) {
        int from = markdown.indexOf("\n" + heading);
        assertThat(from).as("README has a section '%s'", heading).isNotNegative();
        int to = markdown.indexOf("\n## ", from + 1);
        return markdown.substring(from, to < 0 ? markdown.length() : to);
    }

    private static List<String> javaBlocksOf(String markdown) {
        List<String> blocks = new ArrayList<>();
        int at = 0;
        while ((at = markdown.indexOf("```java\n", at)) >= 0) {
            int start = at + "```java\n".length();
            int end = markdown.indexOf("```\n", start);
            blocks.add(markdown.substring(start, end));
            at = end + 4;
        }
        return blocks;
    }
}

using System.Text.RegularExpressions;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Pages;

/// <summary>
/// Issue 23, "Done when": no HTML is built in C# strings. Markup lives in Neotoma.Pages' .razor files,
/// where Razor encodes every value; a C# line with a closing tag, a tag with attributes or a void
/// element (the shapes a page needs) fails here. XML doc comments (<c>///</c>) and line comments are
/// skipped; generics (<c>List&lt;string&gt;</c>) and placeholders (<c>Bearer &lt;token&gt;</c>) match none
/// of the shapes.
/// </summary>
public sealed partial class NoHtmlInCSharpTests
{
    private static readonly string[] Projects = ["Neotoma.Core", "Neotoma.Functions", "Neotoma.Pages", "Neotoma.WorkerHost"];

    [Fact]
    public void ProductCode_BuildsNoHtmlInCSharp()
    {
        var root = DevIdentityProvider.RepositoryRoot();
        var found = Projects
            .SelectMany(project => Directory.EnumerateFiles(Path.Combine(root, project), "*.cs", SearchOption.AllDirectories))
            .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .SelectMany(path => HtmlLines(File.ReadAllLines(path)).Select(line => $"{Path.GetRelativePath(root, path)}:{line.Number}: {line.Text.Trim()}"))
            .ToList();

        Assert.True(found.Count == 0, "HTML built in C# (move it into a component of Neotoma.Pages):\n" + string.Join("\n", found));
    }

    /// <summary>The scan itself: it finds the shapes the pages were once built from, and nothing in ordinary C#.</summary>
    [Theory]
    [InlineData("""        return $"<p>{Encode(e.Message)}</p>";""", true)]
    [InlineData("""    private static string Hidden(string name, string value) => $"<input type=\"hidden\" name=\"{name}\">";""", true)]
    [InlineData("""            <form method="post" action="/connections/revoke">{csrf}""", true)]
    [InlineData("""                <!doctype html>""", true)]
    [InlineData("""        head += $"<meta http-equiv=\"refresh\" content=\"0\">";""", true)]
    [InlineData("""    /// <summary>Returns <c>true</c> when <paramref name="x"/> holds.</summary>""", false)]
    [InlineData("""        var ids = new List<string>(); var map = new Dictionary<string, List<int>>();""", false)]
    [InlineData("""        throw new Exception("The Authorization header must be a single 'Bearer <token>'.");""", false)]
    [InlineData("""        if (a < b && c > d) { return x<y; }""", false)]
    public void Scan_TellsHtmlFromCSharp(string line, bool isHtml) =>
        Assert.Equal(isHtml, HtmlLines([line]).Any());

    private static IEnumerable<(int Number, string Text)> HtmlLines(string[] lines) =>
        lines.Select((text, i) => (Number: i + 1, Text: text))
            .Where(line => !line.Text.TrimStart().StartsWith("//", StringComparison.Ordinal) && HtmlShape().IsMatch(line.Text));

    /// <summary>A closing tag, a tag with an attribute, or a void element or doctype.</summary>
    [GeneratedRegex(@"</[a-zA-Z][a-zA-Z0-9]*>|<[a-zA-Z][a-zA-Z0-9]*\s+[a-zA-Z-]+=|<(!doctype|br|hr|meta|input|link|img)\b", RegexOptions.IgnoreCase)]
    private static partial Regex HtmlShape();
}

using System.Text.RegularExpressions;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Architecture;

/// <summary>
/// Issue 23, "Done when": SQL for each table lives in one file. Every OAuth and maintenance table is
/// written (INSERT, UPDATE, DELETE) by exactly one gateway in <c>Neotoma.Core/Storage/</c>, and no SQL outside
/// <c>Storage/</c> names one (a read that joins another table lives with the gateway whose rows it returns).
/// The truth layer's tables have one owner too, <c>Truth/TruthStore.cs</c>. Comments are skipped; the
/// migrations, which create the tables, are .sql files and not scanned. The bench's bulk fill of a
/// million expired states is the one exception, said where it is.
/// </summary>
public sealed partial class TableOwnershipTests
{
    private static readonly string[] Projects = ["Neotoma.Core", "Neotoma.Functions", "Neotoma.Pages", "Neotoma.WorkerHost", "Neotoma.Benchmarks"];

    private static readonly string Root = DevIdentityProvider.RepositoryRoot();

    /// <summary>Every product source file, with its code lines (comments dropped).</summary>
    private static readonly (string Path, string Code)[] Sources = Projects
        .SelectMany(project => Directory.EnumerateFiles(Path.Combine(Root, project), "*.cs", SearchOption.AllDirectories))
        .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
        .Select(path => (Path.GetRelativePath(Root, path).Replace('\\', '/'),
            string.Join('\n', File.ReadAllLines(path).Where(line => !line.TrimStart().StartsWith("//", StringComparison.Ordinal)))))
        .ToArray();

    /// <summary>The tables the migrations create, read from the migrations themselves.</summary>
    private static readonly string[] Tables = Directory.EnumerateFiles(Path.Combine(Root, "Neotoma.Core", "Storage", "Migrations"), "*.sql")
        .SelectMany(path => CreateTable().Matches(File.ReadAllText(path)).Select(match => match.Groups[1].Value))
        .Distinct()
        .Order()
        .ToArray();

    [Fact]
    public void EveryTable_IsWrittenByOneFile()
    {
        Assert.True(Tables.Length >= 15, $"found only {Tables.Length} tables in the migrations: {string.Join(", ", Tables)}");
        var owners = Tables.ToDictionary(table => table, table => Sources
            .Where(source => Writes(table).IsMatch(source.Code) && !source.Path.StartsWith("Neotoma.Benchmarks/", StringComparison.Ordinal))
            .Select(source => source.Path)
            .ToList());

        var shared = owners.Where(owner => owner.Value.Count > 1).Select(owner => $"{owner.Key}: {string.Join(", ", owner.Value)}").ToList();
        Assert.True(shared.Count == 0, "tables written from more than one file:\n" + string.Join("\n", shared));
        var outside = owners.Where(owner => owner.Value is [var path] && !path.StartsWith("Neotoma.Core/Storage/", StringComparison.Ordinal)
            && !(path == "Neotoma.Core/Truth/TruthStore.cs" && !owner.Key.StartsWith("mcp_", StringComparison.Ordinal)))
            .Select(owner => $"{owner.Key}: {owner.Value[0]}").ToList();
        Assert.True(outside.Count == 0, "tables written outside their gateway in Storage/:\n" + string.Join("\n", outside));
    }

    [Fact]
    public void NoSqlOutsideStorage_NamesAnOAuthTable()
    {
        var found = Sources
            .Where(source => !source.Path.StartsWith("Neotoma.Core/Storage/", StringComparison.Ordinal))
            .SelectMany(source => Tables.Where(table => table.StartsWith("mcp_", StringComparison.Ordinal) && InSql(table).IsMatch(source.Code)
                    && !(source.Path == "Neotoma.Benchmarks/Program.cs" && table == "mcp_oauth_state"))
                .Select(table => $"{source.Path}: {table}"))
            .ToList();

        Assert.True(found.Count == 0, "SQL outside Neotoma.Core/Storage/ names a table (call its gateway instead):\n" + string.Join("\n", found));
    }

    /// <summary>The scan itself: a write, a read and a doc mention are told apart.</summary>
    [Theory]
    [InlineData("await using var c = new NpgsqlCommand(\"UPDATE mcp_oauth_tokens SET revoked_at = @now\");", true, true)]
    [InlineData("            INSERT INTO mcp_oauth_tokens (token_hash, kind)", true, true)]
    [InlineData("\"DELETE FROM mcp_oauth_tokens WHERE token_hash = @h\"", true, true)]
    [InlineData("\"SELECT kind FROM mcp_oauth_tokens WHERE token_hash = @h\"", false, true)]
    [InlineData("    FROM mcp_oauth_connections c JOIN mcp_oauth_tokens t ON t.connection_id = c.connection_id", false, true)]
    [InlineData("/// <summary><c>mcp_oauth_tokens</c>: the only code with SQL for it.</summary>", false, false)]
    public void Scan_TellsWritesAndReadsFromMentions(string line, bool write, bool sql)
    {
        Assert.Equal(write, Writes("mcp_oauth_tokens").IsMatch(line));
        Assert.Equal(sql, InSql("mcp_oauth_tokens").IsMatch(line));
    }

    private static Regex Writes(string table) =>
        new($@"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+{table}\b", RegexOptions.IgnoreCase);

    private static Regex InSql(string table) =>
        new($@"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|FROM|JOIN)\s+{table}\b", RegexOptions.IgnoreCase);

    [GeneratedRegex(@"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_]+)", RegexOptions.IgnoreCase)]
    private static partial Regex CreateTable();
}

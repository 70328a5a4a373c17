using System.Diagnostics;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Operations;

/// <summary>Every shell script of the repository parses (bash -n) and shellcheck finds nothing in it, at any severity.</summary>
public sealed class ShellScriptTests
{
    private static readonly string Root = DevIdentityProvider.RepositoryRoot();

    private static readonly string[] Skipped = ["node_modules", "bin", "obj", ".git", ".data", "TestResults"];

    /// <summary>Files named *.sh and files whose first line runs bash or sh.</summary>
    public static TheoryData<string> Scripts() => new(Files(new DirectoryInfo(Root)).Order(StringComparer.Ordinal));

    private static IEnumerable<string> Files(DirectoryInfo directory)
    {
        foreach (var file in directory.EnumerateFiles())
        {
            if (file.Extension == ".sh" || (file.Extension == "" && FirstLine(file.FullName) is { } line && line.StartsWith("#!") && (line.Contains("bash") || line.EndsWith("/sh"))))
            {
                yield return Path.GetRelativePath(Root, file.FullName);
            }
        }

        foreach (var child in directory.EnumerateDirectories().Where(d => !Skipped.Contains(d.Name)))
        {
            foreach (var file in Files(child))
            {
                yield return file;
            }
        }
    }

    private static string? FirstLine(string path)
    {
        using var reader = new StreamReader(path);
        return reader.ReadLine();
    }

    [Fact]
    public void TheScriptsPeopleRun_AreAmongThem() =>
        Assert.Superset(new HashSet<string> { "neotoma", Path.Combine(".ci", "run"), Path.Combine("infra", "check"), Path.Combine("infra", "hooks", "postprovision.sh") },
            Files(new DirectoryInfo(Root)).ToHashSet());

    [Theory]
    [MemberData(nameof(Scripts))]
    public async Task Parses(string script)
    {
        var (code, output) = await RunAsync("bash", "-n", script);
        Assert.True(code == 0, $"bash -n {script}:\n{output}");
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public async Task ShellcheckFindsNothing(string script)
    {
        Assert.True(File.Exists("/usr/bin/shellcheck"), "shellcheck is missing: install the Debian package shellcheck (./neotoma test does).");
        var (code, output) = await RunAsync("shellcheck", "--external-sources", script);
        Assert.True(code == 0, $"shellcheck {script}:\n{output}");
    }

    private static async Task<(int Code, string Output)> RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}

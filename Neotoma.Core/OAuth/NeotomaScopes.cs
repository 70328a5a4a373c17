namespace Neotoma.Core.OAuth;

/// <summary>
/// What a token may do. A token's scope string is stored as granted; every permission check
/// goes through <see cref="Grants"/>, so tokens issued before the split (scope <c>mcp</c>)
/// keep both permissions.
/// </summary>
public static class NeotomaScopes
{
    public const string Read = "neotoma:read";

    public const string Write = "neotoma:write";

    /// <summary>Read and write, under the name every client used before the two were split.</summary>
    public const string Legacy = "mcp";

    public const string OfflineAccess = "offline_access";

    /// <summary>What the authorization server accepts in a request.</summary>
    public static readonly IReadOnlyList<string> Supported = [Read, Write, Legacy, OfflineAccess];

    /// <summary>What /mcp's tools need between them: the protected resource's scopes and the 401 challenge's.</summary>
    public static readonly IReadOnlyList<string> ResourceScopes = [Read, Write];

    /// <summary>What a request without a scope gets: everything a client needs to use every tool.</summary>
    public const string Default = Read + " " + Write;

    private static readonly Dictionary<string, string> PlainWords = new(StringComparer.Ordinal)
    {
        [Read] = "Read your entities, their facts, relationships and timeline.",
        [Write] = "Store, correct, merge, delete and restore your entities and relationships.",
    };

    /// <summary>The scopes a request names, split; unknown ones included (see <see cref="Unknown"/>).</summary>
    public static string[] Split(string? scope) => (scope ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);

    public static IEnumerable<string> Unknown(string? scope) => Split(scope).Where(s => !Supported.Contains(s));

    /// <summary>
    /// The scope a request of known scopes is granted, in canonical form: no resource scope means
    /// both, <c>mcp</c> means both, the rest is kept as asked, sorted, without duplicates.
    /// </summary>
    public static string Normalize(string? requested)
    {
        var scopes = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var scope in Split(requested))
        {
            if (scope == Legacy)
            {
                scopes.UnionWith(ResourceScopes);
            }
            else
            {
                scopes.Add(scope);
            }
        }

        if (!scopes.Overlaps(ResourceScopes))
        {
            scopes.UnionWith(ResourceScopes);
        }

        return string.Join(' ', scopes);
    }

    public static bool Grants(string granted, string required)
    {
        foreach (var scope in Split(granted))
        {
            if (scope == required || (scope == Legacy && ResourceScopes.Contains(required)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether <paramref name="narrower"/> asks for nothing <paramref name="granted"/> does not already allow.</summary>
    public static bool IsWithin(string narrower, string granted) =>
        Split(narrower).All(scope => scope == Legacy ? ResourceScopes.All(s => Grants(granted, s)) : Grants(granted, scope));

    /// <summary>Both sets, canonical: what a step-up challenge asks for, so a client that replaces its scope loses nothing.</summary>
    public static string Union(string granted, string required) => Normalize(granted + " " + required);

    public static string Without(string granted, string scope) =>
        string.Join(' ', Split(Normalize(granted)).Where(s => s != scope));

    /// <summary>The resource scopes of a grant with what each allows, for the consent page.</summary>
    public static IEnumerable<(string Scope, string Allows)> Describe(string granted) =>
        ResourceScopes.Where(scope => Grants(granted, scope)).Select(scope => (scope, PlainWords[scope]));
}

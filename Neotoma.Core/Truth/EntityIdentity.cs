using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Neotoma.Core.Truth;

/// <summary>
/// Entity ids are derived from (user, type, normalized name): the same name stored again finds
/// the same entity, and two users' identically named entities never collide.
/// </summary>
public static partial class EntityIdentity
{
    public static string Normalize(string name) =>
        Whitespace().Replace(name.Normalize(NormalizationForm.FormKC).Trim().ToLowerInvariant(), " ");

    public static string NormalizeType(string type) => Normalize(type).Replace(' ', '_');

    public static string EntityId(string userId, string entityType, string normalizedName) =>
        "ent_" + Hash(userId, entityType, normalizedName);

    public static string RelationshipId(string userId, string type, string sourceId, string targetId) =>
        "rel_" + Hash(userId, type, sourceId, targetId);

    private static string Hash(params string[] parts) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\u001f', parts))))[..32];

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}

using System.Collections.Frozen;
using System.Reflection;
using System.Text.Json;
using ModelContextProtocol.Server;

namespace Neotoma.Core.Mcp;

/// <summary>A tool that answers from the call alone (its token's grant), never from the database.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class AnswersWithoutDatabaseAttribute : Attribute;

/// <summary>
/// Whether a request to /mcp may use the database, read from its body before the SDK runs: /mcp takes
/// the request's pooled connection up front (so that a busy pool is a 503 while the status can still
/// be set), and a request that cannot use it should neither wait for one nor hold one.
/// </summary>
public static class ToolDatabase
{
    private static readonly FrozenSet<string> WithoutDatabase = ToolScopes.ToolMethods
        .Where(method => method.GetCustomAttribute<AnswersWithoutDatabaseAttribute>() is not null)
        .Select(method => method.GetCustomAttribute<McpServerToolAttribute>()?.Name
            ?? throw new InvalidOperationException($"{method.Name} is marked [AnswersWithoutDatabase] but is no tool."))
        .ToFrozenSet(StringComparer.Ordinal);

    /// <summary>
    /// False only for one JSON-RPC message that is certainly no call of a tool using the database:
    /// a method other than tools/call (initialize, tools/list, ping, notifications), or a tools/call
    /// naming a tool marked <see cref="AnswersWithoutDatabaseAttribute"/>. Anything else (a batch,
    /// malformed JSON, a method or name that is not a string) may, and keeps the connection. Read as
    /// the SDK reads it: the message's members by their exact names, the params' members ignoring case
    /// (its web defaults), and a member given twice as its last value.
    /// </summary>
    public static bool MayBeNeededBy(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body);
        var toolCall = false;
        var sawMethod = false;
        var toolWithoutDatabase = false;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return true;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("method"u8))
                {
                    if (!reader.Read() || reader.TokenType != JsonTokenType.String)
                    {
                        return true;
                    }

                    sawMethod = true;
                    toolCall = reader.ValueTextEquals("tools/call"u8);
                }
                else if (reader.ValueTextEquals("params"u8))
                {
                    reader.Read();
                    toolWithoutDatabase = reader.TokenType == JsonTokenType.StartObject && NamesToolWithoutDatabase(ref reader);
                    reader.Skip();
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            return true;
        }

        return !sawMethod || (toolCall && !toolWithoutDatabase);
    }

    // Reads the params object to its end; true when its last "name" is a tool that answers without the database.
    private static bool NamesToolWithoutDatabase(ref Utf8JsonReader reader)
    {
        var without = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isName = IsNameIgnoringCase(ref reader);
            reader.Read();
            if (isName)
            {
                without = reader.TokenType == JsonTokenType.String && IsWithoutDatabase(ref reader);
            }

            reader.Skip();
        }

        return without;
    }

    private static bool IsNameIgnoringCase(ref Utf8JsonReader reader) => reader.ValueIsEscaped
        ? string.Equals(reader.GetString(), "name", StringComparison.OrdinalIgnoreCase)
        : System.Text.Ascii.EqualsIgnoreCase(reader.ValueSpan, "name"u8);

    private static bool IsWithoutDatabase(ref Utf8JsonReader reader)
    {
        foreach (var tool in WithoutDatabase)
        {
            if (reader.ValueTextEquals(tool))
            {
                return true;
            }
        }

        return false;
    }
}

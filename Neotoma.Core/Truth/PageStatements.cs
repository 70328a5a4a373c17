namespace Neotoma.Core.Truth;

/// <summary>
/// The statements of one paged list, one for each shape a call can take: with a type or without, and
/// the first page, a page at an offset or the page after a cursor. Each shape is its own statement
/// because a prepared statement's plan may become generic after five runs, chosen against the average
/// cost of the runs so far: deep offsets in that average let a generic plan (a sort of every row)
/// replace the first page's index walk, and a plan for one type or bound would serve another.
/// <paramref name="atOffset"/>, when given, writes the statement of a page at an offset from the
/// condition it adds (empty, or the type's): for a list whose rows join what does not choose them, so
/// that the rows the offset skips are not joined too.
/// </summary>
internal sealed class PageStatements(string from, string ofType, string after, string order, Func<string, string>? atOffset = null)
{
    private readonly string[] statements =
    [
        $"{from}\n{order}",
        $"{from} AND {ofType}\n{order}",
        atOffset?.Invoke("") ?? $"{from}\n{order} OFFSET @offset",
        atOffset?.Invoke($" AND {ofType}") ?? $"{from} AND {ofType}\n{order} OFFSET @offset",
        $"{from} AND {after}\n{order}",
        $"{from} AND {ofType} AND {after}\n{order}",
    ];

    /// <summary>The statement for a call: after a cursor, else at an offset (skipping any rows), else the first page.</summary>
    public string For(bool ofType, bool afterCursor = false, bool atOffset = false) =>
        statements[(afterCursor ? 4 : atOffset ? 2 : 0) + (ofType ? 1 : 0)];
}

#!/usr/bin/env python3
"""Build catalog.json: six synthetic-but-realistic MCP tool catalogs for the tool-gating benchmark.

Sized from Tool Attention (arXiv 2604.21816) Table 2: (tool count, target mean cl100k tokens per
full schema) github (30, 520), filesystem (10, 180), database (20, 410), slack (15, 290),
web (10, 220), jira (35, 470).

Tools, descriptions and core parameters are hand-written. Each schema is then topped up with
realistic optional parameters (pagination, filters, output formatting, ...) taken, in a fixed
order, from per-server pools until it reaches its per-tool token budget. Token counts are
estimated with a stdlib pre-tokenizer approximating cl100k_base (calibrated against tiktoken);
the size that is budgeted is json.dumps({"name", "description", "inputSchema"}) with default
separators, as in the paper's benchmark.py (B1 "naive").

Standard library only; deterministic (random.Random(42)). Run: python3 catalog.py
"""
import json
import os
import random
import re

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = "synthetic, sized from Tool Attention Table 2"
TARGETS = {  # name: (tool count, target mean tokens per full schema)
    "github": (30, 520), "filesystem": (10, 180), "database": (20, 410),
    "slack": (15, 290), "web": (10, 220), "jira": (35, 470),
}

# ---------------------------------------------------------------- token estimate (stdlib)
_PRETOK = re.compile(
    r"'(?:[sdmtSDMT]|ll|ve|re)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]{1,3}| ?[^\sA-Za-z0-9]+[\r\n]*|\s+(?!\S)|\s+")
TOKEN_FACTOR = 1.044  # calibrated: tiktoken cl100k_base tokens / estimate on this catalog (measured once, fixed here)


def est_tokens(text):
    n = 0
    for m in _PRETOK.finditer(text):
        piece = m.group(0)
        # long alphabetic pieces are usually split by BPE
        n += 1 + max(0, (len(piece.strip()) - 9) // 6)
    return int(round(n * TOKEN_FACTOR))


def full_schema_text(tool):
    return json.dumps({"name": tool["name"], "description": tool["description"],
                       "inputSchema": tool["input_schema"]})


# ---------------------------------------------------------------- schema helpers
def S(desc, **kw):
    d = {"type": "string", "description": desc}
    d.update(kw)
    return d


def I(desc, **kw):
    d = {"type": "integer", "description": desc}
    d.update(kw)
    return d


def N(desc, **kw):
    d = {"type": "number", "description": desc}
    d.update(kw)
    return d


def B(desc, default=None):
    d = {"type": "boolean", "description": desc}
    if default is not None:
        d["default"] = default
    return d


def E(values, desc, default=None):
    d = {"type": "string", "enum": list(values), "description": desc}
    if default is not None:
        d["default"] = default
    return d


def A(items, desc, **kw):
    d = {"type": "array", "items": items, "description": desc}
    d.update(kw)
    return d


def O(props, desc, required=None):
    d = {"type": "object", "description": desc, "properties": props}
    if required:
        d["required"] = list(required)
    return d


def SA(desc, **kw):
    return A({"type": "string"}, desc, **kw)


def T(name, description, props, required=(), kind="read", pre=None):
    return {"name": name, "description": description, "props": props,
            "required": list(required), "kind": kind, "pre": pre or {}}


def pre(scopes=(), outputs=(), milestones=()):
    return {"scopes": list(scopes), "outputs": list(outputs), "milestones": list(milestones)}


# ================================================================ GitHub
GH_OWNER = S("Account or organization that owns the repository, e.g. 'octocat' or 'acme-corp'. Case-insensitive.")
GH_REPO = S("Repository name without the owner prefix and without the .git suffix, e.g. 'hello-world'.")
GH_NUM = lambda what: I(f"The {what} number as shown in the URL and the web UI (not the internal database id).", minimum=1)
GH_LABELS = SA("Label names to apply. Labels that do not exist in the repository are created with a default colour.")
GH_ASSIGNEES = SA("Logins of users to assign. Only users with push access can be assigned; others are silently ignored.", maxItems=10)


def gh(name, desc, props, req=(), kind="read", pre_=None):
    p = {"owner": GH_OWNER, "repo": GH_REPO}
    p.update(props)
    return T(name, desc, p, ("owner", "repo") + tuple(req), kind, pre_)


GITHUB = [
    gh("create_issue", "Open a new issue in a GitHub repository. Supports Markdown in the body, labels, assignees and a milestone.",
       {"title": S("Short, descriptive title of the issue."),
        "body": S("Issue body in GitHub-flavoured Markdown. Task lists, code fences and @mentions are supported."),
        "labels": GH_LABELS, "assignees": GH_ASSIGNEES,
        "milestone": I("Number of the milestone to associate the issue with."),
        "type": S("Issue type name configured for the organization, e.g. 'Bug' or 'Feature'.")},
       ("title",), "write"),
    gh("get_issue", "Get a single issue by number, including its title, body, state, labels, assignees and timestamps.",
       {"issue_number": GH_NUM("issue"),
        "include_comments": B("Also return the first page of comments on the issue.", False)},
       ("issue_number",)),
    gh("list_issues", "List issues in a repository with optional filters for state, labels, assignee and date. Pull requests are excluded.",
       {"state": E(["open", "closed", "all"], "Filter by issue state.", "open"),
        "labels": SA("Only return issues that carry all of these labels."),
        "assignee": S("Login of the assignee; use 'none' for unassigned issues and '*' for any."),
        "creator": S("Login of the user who opened the issue."),
        "mentioned": S("Login of a user mentioned in the issue."),
        "milestone": S("Milestone number, '*' for any milestone or 'none' for issues without one.")}, (), "list"),
    gh("update_issue", "Edit an existing issue: change its title, body, state, labels, assignees or milestone. Omitted fields are left unchanged.",
       {"issue_number": GH_NUM("issue"), "title": S("New title."), "body": S("New Markdown body; replaces the old body entirely."),
        "state": E(["open", "closed"], "Set to 'closed' to close the issue or 'open' to reopen it."),
        "state_reason": E(["completed", "not_planned", "reopened"], "Reason recorded when the state changes."),
        "labels": SA("Replaces the full label set of the issue."), "assignees": GH_ASSIGNEES,
        "milestone": I("Milestone number; pass 0 to clear the milestone.")}, ("issue_number",), "write"),
    gh("add_issue_comment", "Add a comment to an issue or pull request. The comment is posted as the authenticated user.",
       {"issue_number": I("Number of the issue or pull request to comment on.", minimum=1),
        "body": S("Comment text in GitHub-flavoured Markdown.")}, ("issue_number", "body"), "write"),
    T("search_issues", "Search issues and pull requests across GitHub using the issue search syntax. Useful for finding related reports across many repositories.",
      {"query": S("Search query using GitHub issue search qualifiers, e.g. 'repo:acme/api is:open label:bug timeout'."),
       "sort": E(["comments", "reactions", "created", "updated", "interactions"], "Field to sort results by. Defaults to best match."),
       "order": E(["asc", "desc"], "Sort direction.", "desc")}, ("query",), "list"),
    gh("create_pull_request", "Open a pull request that proposes merging a head branch into a base branch. Can be opened as a draft.",
       {"title": S("Title of the pull request."), "body": S("Description in Markdown; 'Fixes #123' style keywords link and close issues on merge."),
        "head": S("Branch containing the changes. For cross-repository PRs use 'username:branch'."),
        "base": S("Branch the changes should be merged into, usually the default branch such as 'main'."),
        "draft": B("Open the pull request as a draft that cannot be merged until marked ready.", False),
        "maintainer_can_modify": B("Allow maintainers of the upstream repository to push to the head branch.", True)},
      ("title", "head", "base"), "write"),
    gh("list_pull_requests", "List pull requests in a repository, filtered by state, head or base branch.",
       {"state": E(["open", "closed", "all"], "Filter by pull request state.", "open"),
        "head": S("Filter by head branch in the form 'user:ref-name'."),
        "base": S("Filter by base branch name, e.g. 'main'.")}, (), "list"),
    gh("get_pull_request", "Get details of one pull request: title, description, author, branches, mergeability, review decision and check status.",
       {"pull_number": GH_NUM("pull request")}, ("pull_number",)),
    gh("get_pull_request_diff", "Get the unified diff of a pull request, optionally limited to some files. Large diffs are truncated.",
       {"pull_number": GH_NUM("pull request"),
        "paths": SA("Only include changes to these file paths or glob patterns, e.g. 'src/**/*.ts'."),
        "ignore_whitespace": B("Ignore whitespace-only changes when computing the diff.", False)}, ("pull_number",)),
    gh("merge_pull_request", "Merge an open pull request into its base branch. Fails if required reviews or status checks have not passed.",
       {"pull_number": GH_NUM("pull request"),
        "merge_method": E(["merge", "squash", "rebase"], "How to combine the commits.", "merge"),
        "commit_title": S("Title of the merge or squash commit. Defaults to the pull request title."),
        "commit_message": S("Extra detail appended to the merge commit message."),
        "sha": S("Expected head SHA; the merge fails if the branch has moved since, protecting against racing pushes."),
        "delete_branch": B("Delete the head branch after a successful merge.", False)},
      ("pull_number",), "write", pre(["github:write"], milestones=["review_approved"])),
    gh("create_pull_request_review", "Submit a review on a pull request: approve it, request changes or leave a comment, optionally with line comments.",
       {"pull_number": GH_NUM("pull request"),
        "event": E(["APPROVE", "REQUEST_CHANGES", "COMMENT"], "Review action to submit."),
        "body": S("Overall review comment. Required for REQUEST_CHANGES and COMMENT."),
        "comments": A(O({"path": S("File path relative to the repository root."),
                         "line": I("Line number in the new version of the file."),
                         "side": E(["LEFT", "RIGHT"], "Side of the diff the line refers to.", "RIGHT"),
                         "body": S("Text of the inline comment.")}, "An inline review comment.", ["path", "line", "body"]),
                       "Inline comments attached to specific lines of the diff.")},
       ("pull_number", "event"), "write"),
    gh("request_reviewers", "Ask specific users or teams to review a pull request.",
       {"pull_number": GH_NUM("pull request"), "reviewers": SA("User logins to request a review from."),
        "team_reviewers": SA("Team slugs (without the organization) to request a review from.")}, ("pull_number",), "write"),
    T("search_code", "Search source code across GitHub repositories using code search syntax. Returns matching files with line fragments.",
      {"query": S("Code search query, e.g. 'parseConfig repo:acme/api language:go path:internal/'."),
       "language": S("Restrict to one language, e.g. 'python', 'typescript'."),
       "repo": S("Restrict to a repository, as 'owner/name'."),
       "path": S("Restrict to files under this path prefix."),
       "include_fragments": B("Return the matching text fragments with highlight offsets.", True)}, ("query",), "list"),
    T("search_repositories", "Find GitHub repositories by name, description, topic, language or popularity.",
      {"query": S("Repository search query, e.g. 'vector database language:rust stars:>500'."),
       "sort": E(["stars", "forks", "help-wanted-issues", "updated"], "Sort field. Defaults to best match."),
       "order": E(["asc", "desc"], "Sort direction.", "desc")}, ("query",), "list"),
    gh("get_file_contents", "Read a file or list a directory from a repository at a given branch, tag or commit.",
       {"path": S("Path of the file or directory relative to the repository root; empty string for the root."),
        "ref": S("Branch, tag or commit SHA to read from. Defaults to the default branch."),
        "line_start": I("First line to return (1-based) when reading part of a large file."),
        "line_end": I("Last line to return (inclusive).")}, ("path",)),
    gh("create_or_update_file", "Create a new file or replace an existing one in a repository with a single commit.",
       {"path": S("Path of the file to create or update."), "content": S("Full new content of the file as UTF-8 text."),
        "message": S("Commit message."), "branch": S("Branch to commit to. Must already exist."),
        "sha": S("Blob SHA of the file being replaced; required when updating an existing file to avoid overwriting concurrent changes.")},
       ("path", "content", "message", "branch"), "write", pre(["github:write"])),
    gh("push_files", "Commit several files to a branch in one commit, creating or overwriting each of them.",
       {"branch": S("Branch to push to."), "message": S("Commit message."),
        "files": A(O({"path": S("File path relative to the repository root."), "content": S("Full file content.")},
                     "A file to write.", ["path", "content"]), "Files to include in the commit.", minItems=1)},
       ("branch", "message", "files"), "write", pre(["github:write"])),
    gh("create_branch", "Create a new branch in a repository, starting from another branch or a commit.",
       {"branch": S("Name of the new branch, e.g. 'fix/login-timeout'."),
        "from_branch": S("Existing branch to branch off. Defaults to the repository's default branch."),
        "from_sha": S("Commit SHA to start the branch from; takes precedence over from_branch.")},
       ("branch",), "write", pre(["github:write"])),
    gh("delete_branch", "Delete a branch from a repository. Protected branches and the default branch cannot be deleted.",
       {"branch": S("Name of the branch to delete.")}, ("branch",), "write", pre(["github:write"])),
    gh("list_commits", "List commits on a branch or path, newest first, with author, date and message.",
       {"sha": S("Branch name or commit SHA to start listing from. Defaults to the default branch."),
        "path": S("Only commits that touch this file or directory."), "author": S("GitHub login or email of the commit author."),
        "since": S("Only commits after this time (ISO 8601).", format="date-time"),
        "until": S("Only commits before this time (ISO 8601).", format="date-time")}, (), "list"),
    gh("get_commit", "Get one commit with its message, author, parent SHAs, changed files and per-file patch.",
       {"sha": S("Commit SHA, or a branch or tag name that resolves to a commit."),
        "include_patch": B("Include the per-file unified diff.", True)}, ("sha",)),
    gh("compare_commits", "Compare two commits, branches or tags and list the commits and file changes between them.",
       {"base": S("Base ref (branch, tag or SHA)."), "head": S("Head ref (branch, tag or SHA)."),
        "include_patch": B("Include per-file patches in the response.", False)}, ("base", "head")),
    gh("list_workflow_runs", "List GitHub Actions workflow runs, filtered by workflow, branch, event or status.",
       {"workflow": S("Workflow file name such as 'ci.yml' or its numeric id. Omit for all workflows."),
        "branch": S("Only runs for this branch."), "event": S("Triggering event, e.g. 'push', 'pull_request', 'schedule'."),
        "status": E(["queued", "in_progress", "completed", "success", "failure", "cancelled", "skipped"], "Run status or conclusion to filter by."),
        "actor": S("Login of the user who triggered the run.")}, (), "list"),
    gh("get_workflow_run_logs", "Download and return the logs of a workflow run, optionally only the failed jobs.",
       {"run_id": I("Numeric id of the workflow run."), "failed_only": B("Only return logs of jobs that failed.", True),
        "job_name": S("Only return logs of the job with this name."),
        "tail_lines": I("Return only the last N lines of each job log.", minimum=1, maximum=5000)}, ("run_id",)),
    gh("rerun_workflow", "Re-run a GitHub Actions workflow run, either entirely or only its failed jobs.",
       {"run_id": I("Numeric id of the workflow run to re-run."), "failed_jobs_only": B("Only re-run the jobs that failed.", True),
        "enable_debug_logging": B("Re-run with step debug logging enabled.", False)}, ("run_id",), "write", pre(["github:write"])),
    gh("create_release", "Publish a release for a tag, with release notes. Can create the tag and auto-generate notes from merged pull requests.",
       {"tag_name": S("Tag for the release, e.g. 'v2.4.0'. Created from target_commitish if it does not exist."),
        "target_commitish": S("Branch or commit SHA the tag is created from. Defaults to the default branch."),
        "name": S("Release title."), "body": S("Release notes in Markdown."),
        "draft": B("Create an unpublished draft release.", False), "prerelease": B("Mark the release as a pre-release.", False),
        "generate_release_notes": B("Auto-generate notes from pull requests merged since the previous release.", False)},
       ("tag_name",), "write", pre(["github:write"], milestones=["plan_confirmed"])),
    gh("list_releases", "List published and draft releases of a repository, newest first.",
       {"include_drafts": B("Include draft releases (requires push access).", False)}, (), "list"),
    gh("fork_repository", "Fork a repository into your account or into an organization.",
       {"organization": S("Organization to fork into. Defaults to the authenticated user's account."),
        "name": S("Name for the fork if it should differ from the upstream name."),
        "default_branch_only": B("Only copy the default branch.", True)}, (), "write"),
    gh("trigger_deployment", "Create a deployment of a ref to an environment such as staging or production, which starts the configured deploy workflow.",
       {"ref": S("Branch, tag or SHA to deploy."), "environment": S("Target environment name, e.g. 'staging' or 'production'."),
        "description": S("Short description shown in the deployments list."),
        "auto_merge": B("Merge the default branch into the ref before deploying if it is behind.", False),
        "required_contexts": SA("Status check contexts that must pass before deploying; empty list to skip checks."),
        "payload": O({}, "Arbitrary JSON payload passed to the deploy workflow.")},
       ("ref", "environment"), "write", pre(["github:write"], milestones=["plan_confirmed"])),
]


# ================================================================ filesystem
FS_PATH = S("Absolute path, or a path relative to one of the allowed root directories.")
FILESYSTEM = [
    T("read_file", "Read the complete contents of a text file. Use head or tail to read only part of a large file.",
      {"path": FS_PATH, "encoding": E(["utf-8", "latin-1", "utf-16"], "Text encoding of the file.", "utf-8"),
       "head": I("Only return the first N lines."), "tail": I("Only return the last N lines.")}, ("path",)),
    T("read_multiple_files", "Read several files at once. Files that cannot be read are reported individually without failing the whole call.",
      {"paths": SA("Paths of the files to read.", minItems=1)}, ("paths",)),
    T("write_file", "Create a new file or completely overwrite an existing file with the given content.",
      {"path": FS_PATH, "content": S("Full text content to write."),
       "create_parents": B("Create missing parent directories.", False)}, ("path", "content"), "write"),
    T("edit_file", "Apply line-based find-and-replace edits to a text file and return a git-style diff of the change.",
      {"path": FS_PATH,
       "edits": A(O({"old_text": S("Exact text to find; must match exactly once."), "new_text": S("Replacement text.")},
                    "One replacement.", ["old_text", "new_text"]), "Edits applied in order.", minItems=1),
       "dry_run": B("Preview the diff without writing the file.", False)},
      ("path", "edits"), "write", pre(outputs=["filesystem/read_*"])),
    T("create_directory", "Create a directory, including any missing parent directories. Succeeds silently if it already exists.",
      {"path": FS_PATH}, ("path",), "write"),
    T("list_directory", "List the files and subdirectories in a directory, marking each entry as file or directory.",
      {"path": FS_PATH, "show_hidden": B("Include dotfiles.", False)}, ("path",), "list"),
    T("directory_tree", "Return a recursive tree of a directory as nested JSON, with names, types and children.",
      {"path": FS_PATH, "max_depth": I("Maximum recursion depth.", minimum=1, maximum=20),
       "exclude_patterns": SA("Glob patterns to skip, e.g. 'node_modules', '*.pyc'.")}, ("path",), "list"),
    T("move_file", "Move or rename a file or directory. Fails if the destination already exists.",
      {"source": S("Current path."), "destination": S("New path.")}, ("source", "destination"), "write"),
    T("search_files", "Recursively search for files and directories whose names match a glob pattern.",
      {"path": S("Directory to start searching from."), "pattern": S("Glob pattern matched against names, e.g. '*.yaml' or '**/test_*.py'."),
       "exclude_patterns": SA("Glob patterns to skip.")}, ("path", "pattern"), "list"),
    T("get_file_info", "Get metadata about a file or directory: size, timestamps, permissions and type.",
      {"path": FS_PATH}, ("path",)),
]

# ================================================================ database
DB_TABLE = S("Table name, optionally schema-qualified, e.g. 'public.orders'.")
DB_CONN = S("Name of the configured connection to use, e.g. 'prod-replica' or 'analytics'. Defaults to the primary connection.")
DB_WHERE = S("SQL boolean expression selecting the rows, e.g. \"status = 'pending' AND created_at < now() - interval '30 days'\". Use parameter placeholders $1, $2 for values.")
DB_PARAMS = A({}, "Values bound to the $1, $2, ... placeholders, in order.")


def db(name, desc, props, req=(), kind="read", pre_=None):
    p = dict(props)
    p["connection"] = DB_CONN
    return T(name, desc, p, req, kind, pre_)


DATABASE = [
    db("run_query", "Run a read-only SQL query and return the result rows. Statements that modify data are rejected.",
       {"sql": S("A single SELECT or WITH statement."), "params": DB_PARAMS,
        "max_rows": I("Maximum number of rows to return.", default=500, maximum=10000)}, ("sql",)),
    db("list_tables", "List the tables and views in a database schema with approximate row counts.",
       {"schema": S("Schema to list, e.g. 'public'."), "include_views": B("Also list views and materialized views.", True)}, (), "list"),
    db("describe_table", "Show the columns of a table with types, nullability, defaults, primary key, foreign keys and comments.",
       {"table": DB_TABLE}, ("table",)),
    db("list_schemas", "List the schemas (namespaces) in the database with their owners.", {}, (), "list"),
    db("explain_query", "Show the execution plan of a query, optionally running it to get actual timings.",
       {"sql": S("The statement to explain."), "analyze": B("Execute the query and report actual row counts and timings.", False),
        "format": E(["text", "json"], "Plan output format.", "text")}, ("sql",)),
    db("insert_rows", "Insert one or more rows into a table and return the inserted rows.",
       {"table": DB_TABLE, "rows": A({"type": "object"}, "Rows to insert as column-to-value objects.", minItems=1),
        "on_conflict": E(["error", "ignore", "update"], "What to do when a unique constraint is violated.", "error")},
       ("table", "rows"), "write", pre(["db:write"])),
    db("update_rows", "Update the rows of a table that match a WHERE condition and return how many changed.",
       {"table": DB_TABLE, "set": {"type": "object", "description": "Columns to change and their new values."},
        "where": DB_WHERE, "params": DB_PARAMS}, ("table", "set", "where"), "write", pre(["db:write"])),
    db("delete_rows", "Delete the rows of a table that match a WHERE condition. An empty condition is refused.",
       {"table": DB_TABLE, "where": DB_WHERE, "params": DB_PARAMS,
        "limit": I("Refuse to delete if more than this many rows match.")}, ("table", "where"), "write", pre(["db:write"])),
    db("create_table", "Create a new table from a column list with types, constraints and a primary key.",
       {"table": DB_TABLE,
        "columns": A(O({"name": S("Column name."), "type": S("SQL type, e.g. 'text', 'bigint', 'timestamptz', 'numeric(12,2)'."),
                        "nullable": B("Whether NULL is allowed.", True), "default": S("Default value expression.")},
                       "Column definition.", ["name", "type"]), "Columns of the table.", minItems=1),
        "primary_key": SA("Columns forming the primary key."),
        "if_not_exists": B("Do nothing if the table already exists.", True)}, ("table", "columns"), "write"),
    db("drop_table", "Drop a table permanently, including its data and indexes.",
       {"table": DB_TABLE, "cascade": B("Also drop dependent views and foreign-key constraints.", False),
        "if_exists": B("Do not fail if the table is missing.", True)},
       ("table",), "write", pre(["db:write"], milestones=["plan_confirmed"])),
    db("create_index", "Create an index on one or more columns of a table, optionally unique, partial or built concurrently.",
       {"table": DB_TABLE, "columns": SA("Columns or expressions to index, in order.", minItems=1),
        "name": S("Index name; generated when omitted."), "unique": B("Create a unique index.", False),
        "method": E(["btree", "hash", "gin", "gist", "brin"], "Index access method.", "btree"),
        "where": S("Predicate for a partial index."),
        "concurrently": B("Build without locking writes (slower, cannot run in a transaction).", True)},
       ("table", "columns"), "write", pre(["db:write"])),
    db("list_indexes", "List the indexes of a table with their columns, method, size and usage statistics.",
       {"table": DB_TABLE}, ("table",), "list"),
    db("get_table_stats", "Get size, row count estimate, dead tuples, last vacuum and analyze times and sequential versus index scan counts for a table.",
       {"table": DB_TABLE}, ("table",)),
    db("backup_database", "Start a logical backup (dump) of the whole database or selected tables to the configured backup storage.",
       {"tables": SA("Only back up these tables. Omit for the whole database."),
        "format": E(["custom", "plain", "directory"], "Dump format.", "custom"),
        "compress": I("Compression level 0-9.", minimum=0, maximum=9, default=6),
        "label": S("Human-readable label stored with the backup, e.g. 'before-migration-42'.")}, (), "write"),
    db("list_backups", "List available backups with id, label, size, creation time and status.",
       {"since": S("Only backups created after this time (ISO 8601).", format="date-time")}, (), "list"),
    db("restore_backup", "Restore a backup into the database or into a new database, replacing existing objects.",
       {"backup_id": S("Id of the backup to restore, as returned by list_backups or backup_database."),
        "target_database": S("Restore into this database instead of the current one."),
        "tables": SA("Only restore these tables."), "clean": B("Drop objects before recreating them.", False)},
       ("backup_id",), "write", pre(["db:write"], milestones=["plan_confirmed"])),
    db("run_migration", "Apply pending schema migrations up to a target version, or roll back to an earlier one.",
       {"target_version": S("Migration version to migrate to; 'latest' for all pending migrations."),
        "direction": E(["up", "down"], "Apply or roll back.", "up"),
        "dry_run": B("Print the SQL that would run without executing it.", False)},
       ("target_version",), "write", pre(["db:write"], milestones=["plan_confirmed"])),
    db("export_query_results", "Export the result of a previously run query to a CSV, JSON or Parquet file and return a download link.",
       {"query_id": S("Id of the earlier run_query result to export."),
        "format": E(["csv", "json", "parquet"], "Output file format.", "csv"),
        "filename": S("Name of the exported file.")},
       ("query_id",), "read", pre(outputs=["run_query"])),
    db("list_active_connections", "List current sessions with user, client address, state, running query and how long it has been running.",
       {"min_duration_seconds": I("Only sessions whose current query has run at least this long."),
        "state": E(["active", "idle", "idle in transaction", "all"], "Filter by session state.", "all")}, (), "list"),
    db("kill_query", "Cancel a running query by backend process id, or terminate the whole session.",
       {"pid": I("Backend process id from list_active_connections."),
        "terminate": B("Terminate the session instead of only cancelling the current query.", False)},
       ("pid",), "write"),
]


# ================================================================ slack
SL_CH = S("Channel id (e.g. 'C024BE91L') or name with or without '#', e.g. '#dev-alerts'.")
SL_TS = S("Message timestamp ('ts') that identifies the message, e.g. '1715700223.004900'.")
SLACK = [
    T("post_message", "Send a message to a Slack channel or direct message. Supports mrkdwn formatting and Block Kit blocks.",
      {"channel": SL_CH, "text": S("Message text in Slack mrkdwn; also used as the notification fallback when blocks are given."),
       "blocks": A({"type": "object"}, "Block Kit layout blocks."),
       "unfurl_links": B("Show link previews.", True), "mrkdwn": B("Interpret mrkdwn formatting in text.", True)},
      ("channel", "text"), "write", pre(["slack:write"])),
    T("reply_in_thread", "Reply inside the thread of an existing message, optionally also sending the reply to the channel.",
      {"channel": SL_CH, "thread_ts": SL_TS, "text": S("Reply text in mrkdwn."),
       "reply_broadcast": B("Also post the reply to the channel.", False)},
      ("channel", "thread_ts", "text"), "write", pre(["slack:write"])),
    T("list_channels", "List the channels in the workspace that the bot can see, with topic, purpose and member count.",
      {"types": SA("Channel types to include: public_channel, private_channel, mpim, im."),
       "exclude_archived": B("Leave out archived channels.", True)}, (), "list"),
    T("get_channel_history", "Fetch recent messages from a channel, newest first, optionally within a time window.",
      {"channel": SL_CH, "oldest": S("Only messages after this Unix timestamp."), "latest": S("Only messages before this Unix timestamp.")},
      ("channel",), "list"),
    T("get_thread_replies", "Fetch all replies in a message thread.",
      {"channel": SL_CH, "thread_ts": SL_TS}, ("channel", "thread_ts"), "list"),
    T("search_messages", "Search messages across the workspace with Slack search modifiers such as in:, from:, before: and after:.",
      {"query": S("Search text with modifiers, e.g. 'deploy failed in:#ops after:2024-05-01'."),
       "sort": E(["score", "timestamp"], "Sort by relevance or time.", "score")}, ("query",), "list"),
    T("add_reaction", "Add an emoji reaction to a message.",
      {"channel": SL_CH, "timestamp": SL_TS, "name": S("Emoji name without colons, e.g. 'white_check_mark'.")},
      ("channel", "timestamp", "name"), "write"),
    T("update_message", "Edit the text or blocks of a message previously sent by the bot.",
      {"channel": SL_CH, "ts": SL_TS, "text": S("New message text."), "blocks": A({"type": "object"}, "New Block Kit blocks.")},
      ("channel", "ts"), "write"),
    T("delete_message", "Delete a message that the bot posted.",
      {"channel": SL_CH, "ts": SL_TS}, ("channel", "ts"), "write", pre(["slack:write"])),
    T("list_users", "List workspace members with display name, real name, title, time zone and status.",
      {"include_bots": B("Include bot users.", False), "include_deactivated": B("Include deactivated accounts.", False)}, (), "list"),
    T("get_user_profile", "Get one user's profile: name, title, email, phone, time zone, status and custom fields.",
      {"user": S("User id (e.g. 'U023BECGF'), @handle or email address.")}, ("user",)),
    T("create_channel", "Create a new public or private channel.",
      {"name": S("Channel name: lowercase, no spaces, at most 80 characters."), "is_private": B("Create a private channel.", False),
       "topic": S("Initial channel topic.")}, ("name",), "write"),
    T("invite_to_channel", "Invite one or more users to a channel.",
      {"channel": SL_CH, "users": SA("User ids or @handles to invite.", minItems=1)}, ("channel", "users"), "write"),
    T("upload_file", "Upload a file or text snippet and share it in one or more channels.",
      {"channels": SA("Channels to share the file in."), "content": S("File content as text, for snippets and small files."),
       "file_path": S("Local path of a file to upload instead of content."), "filename": S("Name shown for the file."),
       "title": S("Title of the file."), "initial_comment": S("Message posted together with the file."),
       "thread_ts": S("Share the file inside this thread.")}, ("channels",), "write", pre(["slack:write"])),
    T("set_channel_topic", "Set or change the topic shown at the top of a channel.",
      {"channel": SL_CH, "topic": S("New topic text, up to 250 characters.")}, ("channel", "topic"), "write"),
]

# ================================================================ web
WEB = [
    T("fetch_url", "Download a web page and return its main content as Markdown or plain text, with navigation and ads stripped.",
      {"url": S("Absolute http(s) URL.", format="uri"), "format": E(["markdown", "text", "html"], "Format of the returned content.", "markdown"),
       "max_chars": I("Truncate the content to this many characters.", default=20000)}, ("url",)),
    T("web_search", "Search the web and return ranked results with title, URL and snippet.",
      {"query": S("Search query."), "count": I("Number of results.", default=10, maximum=50),
       "freshness": E(["day", "week", "month", "year"], "Only results published within this period."),
       "site": S("Restrict results to a domain, e.g. 'docs.python.org'.")}, ("query",), "list"),
    T("news_search", "Search recent news articles and return headline, source, publication time and URL.",
      {"query": S("News search query."), "count": I("Number of articles.", default=10, maximum=50),
       "since": S("Only articles published after this date (YYYY-MM-DD).", format="date")}, ("query",), "list"),
    T("screenshot_page", "Render a web page in a headless browser and return a PNG screenshot.",
      {"url": S("Page to capture.", format="uri"), "full_page": B("Capture the whole scrollable page instead of the viewport.", False),
       "width": I("Viewport width in CSS pixels.", default=1280), "height": I("Viewport height in CSS pixels.", default=800)}, ("url",)),
    T("extract_links", "List the hyperlinks on a page with anchor text, optionally only those to the same site.",
      {"url": S("Page to read.", format="uri"), "same_domain_only": B("Only return links to the page's own domain.", False)}, ("url",), "list"),
    T("extract_tables", "Parse the HTML tables on a page into rows and columns, returned as JSON or CSV.",
      {"url": S("Page containing the tables.", format="uri"), "table_index": I("Only return the table at this 0-based position."),
       "output": E(["json", "csv"], "Output format.", "json")}, ("url",)),
    T("get_page_metadata", "Read a page's title, description, canonical URL, Open Graph and Twitter card tags, language and publish date.",
      {"url": S("Page to inspect.", format="uri")}, ("url",)),
    T("check_url_status", "Check whether URLs are reachable and report HTTP status, redirect chain and response time.",
      {"urls": SA("URLs to check.", minItems=1, maxItems=100), "follow_redirects": B("Follow redirects.", True)}, ("urls",), "list"),
    T("download_file", "Download a file from a URL into the workspace and return its local path, size and content type.",
      {"url": S("Direct link to the file.", format="uri"), "filename": S("Local file name; derived from the URL when omitted.")}, ("url",), "write"),
    T("summarize_search_results", "Condense the results of an earlier search into a short cited summary, fetching the top pages if needed.",
      {"result_set_id": S("Id of the earlier web_search or news_search result set."),
       "focus": S("Question or aspect the summary should focus on."),
       "max_sources": I("How many of the top results to read.", default=5, maximum=10)},
      ("result_set_id",), "read", pre(outputs=["*_search"])),
]


# ================================================================ jira
JK = S("Issue key such as 'PAY-1423', or the numeric issue id.")
JP = S("Project key, e.g. 'PAY' or 'MOBILE'.")
JSPRINT = I("Numeric sprint id.")
JBOARD = I("Numeric board id.")
JUSER = S("Atlassian account id, email address or display name of the user.")
JW = ["jira:write"]
JIRA = [
    T("create_issue", "Create a Jira issue (story, task, bug or sub-task) in a project.",
      {"project": JP, "issue_type": E(["Story", "Task", "Bug", "Sub-task", "Epic"], "Type of issue to create."),
       "summary": S("One-line summary."), "description": S("Description in Atlassian wiki markup or Markdown."),
       "priority": E(["Highest", "High", "Medium", "Low", "Lowest"], "Priority.", "Medium"),
       "assignee": JUSER, "labels": SA("Labels to add."), "components": SA("Component names."),
       "parent": S("Parent issue key; required for sub-tasks, or an epic key for stories."),
       "story_points": N("Story point estimate.")}, ("project", "issue_type", "summary"), "write"),
    T("get_issue", "Get a Jira issue with its fields, status, assignee, comments and linked issues.",
      {"issue_key": JK, "fields": SA("Only return these fields, e.g. 'summary', 'status'. Default: all navigable fields."),
       "expand": SA("Extra sections to include: 'changelog', 'renderedFields', 'transitions'.")}, ("issue_key",)),
    T("update_issue", "Update fields of an existing Jira issue such as summary, description, priority, labels or story points.",
      {"issue_key": JK, "fields": {"type": "object", "description": "Field names or ids mapped to new values, e.g. {\"priority\": {\"name\": \"High\"}}."},
       "notify_users": B("Send email notifications to watchers.", True)}, ("issue_key", "fields"), "write"),
    T("delete_issue", "Permanently delete a Jira issue and, optionally, its sub-tasks.",
      {"issue_key": JK, "delete_subtasks": B("Also delete sub-tasks; required when the issue has any.", False)},
      ("issue_key",), "write", pre(JW)),
    T("search_issues", "Find Jira issues with a JQL query and return the matching issues with selected fields.",
      {"jql": S("JQL query, e.g. 'project = PAY AND status = \"In Progress\" AND assignee = currentUser()'."),
       "fields": SA("Fields to return for each issue.")}, ("jql",), "list"),
    T("transition_issue", "Move an issue through its workflow, e.g. from To Do to In Progress or Done, optionally setting a resolution.",
      {"issue_key": JK, "transition": S("Transition name or id, e.g. 'Start Progress' or 'Done'. See get_transitions."),
       "resolution": S("Resolution to set when closing, e.g. 'Fixed', 'Won't Do'."), "comment": S("Comment added with the transition.")},
      ("issue_key", "transition"), "write", pre(JW)),
    T("get_transitions", "List the workflow transitions currently available for an issue.", {"issue_key": JK}, ("issue_key",)),
    T("assign_issue", "Assign an issue to a user, or unassign it.",
      {"issue_key": JK, "assignee": S("Account id, email or display name; null or '-1' to unassign.")}, ("issue_key", "assignee"), "write"),
    T("add_comment", "Add a comment to a Jira issue, optionally restricted to a role or group.",
      {"issue_key": JK, "body": S("Comment text."),
       "visibility": O({"type": E(["role", "group"], "Restriction type."), "value": S("Role or group name.")}, "Restrict who can see the comment.")},
      ("issue_key", "body"), "write"),
    T("get_issue_changelog", "Get the history of changes to an issue: who changed which field, from what, to what and when.",
      {"issue_key": JK}, ("issue_key",), "list"),
    T("link_issues", "Create a link between two issues, such as 'blocks', 'relates to' or 'duplicates'.",
      {"inward_issue": JK, "outward_issue": JK, "link_type": S("Link type name, e.g. 'Blocks', 'Relates', 'Duplicate', 'Cloners'."),
       "comment": S("Comment added to the inward issue.")}, ("inward_issue", "outward_issue", "link_type"), "write"),
    T("add_watcher", "Add a user to an issue's watchers so they get notified of changes.",
      {"issue_key": JK, "user": JUSER}, ("issue_key", "user"), "write"),
    T("add_attachment", "Attach a file to an issue.",
      {"issue_key": JK, "file_path": S("Local path of the file to attach."), "filename": S("Name to store the attachment under.")},
      ("issue_key", "file_path"), "write"),
    T("log_work", "Log time spent on an issue and optionally adjust the remaining estimate.",
      {"issue_key": JK, "time_spent": S("Duration in Jira format, e.g. '2h 30m' or '1d'."),
       "started": S("When the work started (ISO 8601). Defaults to now.", format="date-time"), "comment": S("Work description."),
       "adjust_estimate": E(["auto", "leave", "new", "manual"], "How to update the remaining estimate.", "auto")},
      ("issue_key", "time_spent"), "write", pre(JW)),
    T("get_worklogs", "List the work logged on an issue with author, time spent and date.",
      {"issue_key": JK, "started_after": S("Only worklogs started after this date.", format="date")}, ("issue_key",), "list"),
    T("bulk_create_issues", "Create up to 50 issues in one request, e.g. when importing a backlog or splitting an epic into stories.",
      {"issues": A(O({"project": JP, "issue_type": S("Issue type name."), "summary": S("One-line summary."),
                      "description": S("Description."), "parent": S("Parent or epic key.")}, "Issue to create.",
                     ["project", "issue_type", "summary"]), "Issues to create.", minItems=1, maxItems=50)},
      ("issues",), "write", pre(JW)),
    T("list_projects", "List the Jira projects you can browse, with key, name, type and lead.",
      {"query": S("Filter by text in the project key or name."),
       "type": E(["software", "business", "service_desk"], "Project type.")}, (), "list"),
    T("get_project", "Get one project's details: lead, issue types, components, versions and default assignee.",
      {"project": JP}, ("project",)),
    T("list_components", "List the components of a project with their leads and default assignees.", {"project": JP}, ("project",), "list"),
    T("list_boards", "List Scrum and Kanban boards, optionally for one project.",
      {"project": JP, "type": E(["scrum", "kanban", "simple"], "Board type."), "name": S("Filter by board name.")}, (), "list"),
    T("get_board_configuration", "Get a board's columns, status mapping, estimation field and filter.", {"board_id": JBOARD}, ("board_id",)),
    T("list_sprints", "List the sprints of a board, filtered by state.",
      {"board_id": JBOARD, "state": E(["future", "active", "closed"], "Sprint state to list.")}, ("board_id",), "list"),
    T("get_sprint_issues", "List the issues in a sprint with status, assignee and estimate.",
      {"sprint_id": JSPRINT, "jql": S("Extra JQL filter applied within the sprint.")}, ("sprint_id",), "list"),
    T("create_sprint", "Create a new future sprint on a board.",
      {"board_id": JBOARD, "name": S("Sprint name, e.g. 'PAY Sprint 42'."), "goal": S("Sprint goal."),
       "start_date": S("Planned start.", format="date-time"), "end_date": S("Planned end.", format="date-time")},
      ("board_id", "name"), "write"),
    T("start_sprint", "Start a future sprint so it becomes the board's active sprint.",
      {"sprint_id": JSPRINT, "end_date": S("End date of the sprint.", format="date-time"), "goal": S("Sprint goal to set when starting.")},
      ("sprint_id",), "write", pre(JW, milestones=["plan_confirmed"])),
    T("complete_sprint", "Close the active sprint and move its unfinished issues to the backlog or to another sprint.",
      {"sprint_id": JSPRINT, "move_open_issues_to": S("'backlog' or the id of the sprint that receives unfinished issues.")},
      ("sprint_id",), "write", pre(JW)),
    T("move_issues_to_sprint", "Move issues into a sprint, or back to the backlog.",
      {"sprint_id": I("Target sprint id; 0 means the backlog."), "issue_keys": SA("Issues to move.", minItems=1, maxItems=50)},
      ("sprint_id", "issue_keys"), "write"),
    T("get_sprint_report", "Get a sprint report: committed versus completed points, scope changes and issues not completed.",
      {"sprint_id": JSPRINT}, ("sprint_id",)),
    T("create_epic", "Create an epic to group related stories, with a name, summary and optional target dates.",
      {"project": JP, "name": S("Epic name shown on cards."), "summary": S("Summary."), "description": S("Description."),
       "start_date": S("Target start.", format="date"), "due_date": S("Target end.", format="date")}, ("project", "name"), "write"),
    T("get_epic_issues", "List the stories and tasks that belong to an epic, with their status.",
      {"epic_key": JK, "status_category": E(["To Do", "In Progress", "Done"], "Filter by status category.")}, ("epic_key",), "list"),
    T("list_versions", "List a project's fix versions (releases) with release dates and released or archived flags.",
      {"project": JP, "released": B("Only released (true) or only unreleased (false) versions.")}, ("project",), "list"),
    T("create_version", "Create a fix version (release) in a project.",
      {"project": JP, "name": S("Version name, e.g. '2.7.0'."), "description": S("Description."),
       "release_date": S("Planned release date.", format="date")}, ("project", "name"), "write"),
    T("release_version", "Mark a fix version as released, optionally moving its unresolved issues to another version.",
      {"version_id": S("Version id or name."), "project": JP, "release_date": S("Actual release date.", format="date"),
       "move_unfixed_issues_to": S("Version that receives unresolved issues.")},
      ("version_id", "project"), "write", pre(JW, milestones=["plan_confirmed"])),
    T("get_user", "Look up a Jira user by name or email and return account id, display name, email and active flag.",
      {"query": S("Name, email or account id.")}, ("query",)),
    T("list_filters", "List saved JQL filters you own or that are shared with you, or mark one as favourite.",
      {"owner": S("Only filters owned by this user."), "favourites_only": B("Only favourite filters.", False),
       "name": S("Filter by filter name.")}, (), "list"),
]


# ================================================================ padding pools
# Realistic optional parameters, in the order they are added, until a schema reaches its budget.
_PER_PAGE = I("Number of results per page. Larger pages mean fewer round trips but bigger responses; the server caps it at 100.", default=30, minimum=1, maximum=100)
_PAGE = I("Page number of the results to fetch, starting at 1. Use together with per_page to walk through long result lists.", default=1, minimum=1)
POOLS = {
    "github": {
        "list": [("per_page", _PER_PAGE), ("page", _PAGE),
                 ("since", S("Only return items updated at or after this time, as an ISO 8601 timestamp such as '2024-05-01T00:00:00Z'.", format="date-time")),
                 ("sort", E(["created", "updated", "popularity", "long-running"], "Field used to order the results. 'popularity' orders by comment count.", "created")),
                 ("direction", E(["asc", "desc"], "Sort direction. Defaults to 'desc' for most sort fields, newest or largest first.", "desc")),
                 ("max_items", I("Stop after collecting this many items across all pages, to keep responses small when only the most recent items matter.", minimum=1, maximum=1000))],
        "read": [],
        "write": [],
        "common": [
            ("fields", SA("Restrict each returned object to these top-level fields, e.g. ['number', 'title', 'state', 'html_url']. Reduces response size for large objects; omit for the full representation.")),
            ("media_type", E(["json", "raw", "text", "html", "full"], "Representation of Markdown bodies in the response: 'raw' returns the source Markdown, 'html' the rendered HTML, 'text' a plain-text rendering and 'full' all three.", "json")),
            ("response_format", E(["concise", "detailed"], "Use 'concise' for a compact summary suited to display in chat, or 'detailed' for the complete API payload including URLs, node ids and timestamps.", "concise")),
            ("hostname", S("GitHub Enterprise Server hostname, e.g. 'github.acme-corp.internal'. Leave empty to use github.com.")),
            ("api_version", S("Value of the X-GitHub-Api-Version header to request, e.g. '2022-11-28'. Defaults to the latest version supported by the server.")),
            ("if_none_match", S("ETag from a previous response. If the resource has not changed the server answers 304 Not Modified, which does not count against the rate limit.")),
            ("timeout_seconds", I("Abort the request if GitHub has not answered within this many seconds. Search and diff endpoints on large repositories may need more time.", default=30, minimum=1, maximum=300)),
            ("include_rate_limit", B("Append the remaining REST rate-limit budget and the reset time to the result, useful before running many calls in a row.", False)),
        ],
    },
    "filesystem": {
        "list": [("max_results", I("Stop after this many entries; the response says whether it was truncated.", default=1000))],
        "read": [],
        "write": [],
        "common": [
            ("follow_symlinks", B("Resolve symbolic links; links pointing outside the allowed directories are rejected.", True)),
            ("output_format", E(["text", "json"], "Plain text for display or structured JSON for further processing.", "text")),
        ],
    },
    "database": {
        "list": [("limit", I("Maximum number of entries to return; use with offset to page through long lists.", default=100, minimum=1, maximum=1000)),
                 ("offset", I("Number of entries to skip before returning results, for pagination.", default=0, minimum=0)),
                 ("name_pattern", S("Only include entries whose name matches this SQL LIKE pattern, e.g. 'order%' or '%_audit'. Matching is case-insensitive."))],
        "read": [],
        "write": [("lock_timeout_ms", I("Give up if the required table locks cannot be acquired within this many milliseconds, instead of queuing behind long transactions and blocking other sessions.", default=5000, minimum=0)),
                  ("returning", SA("Columns to return from the affected rows, like SQL RETURNING. Empty returns only the affected row count."))],
        "common": [
            ("database", S("Database name on the selected connection, when the connection gives access to several databases, e.g. 'billing' or 'analytics'. Defaults to the connection's default database.")),
            ("statement_timeout_ms", I("Cancel the statement if it runs longer than this many milliseconds. Protects the server from accidental full scans on large tables.", default=30000, minimum=100, maximum=600000)),
            ("output_format", E(["table", "json", "csv", "markdown"], "How to render results: an aligned text table for humans, JSON objects for further processing, CSV, or a Markdown table for chat.", "table")),
            ("role", S("Database role to SET ROLE to before running the statement, so row-level security and grants of that role apply. Must be a role the connection user is a member of.")),
            ("application_name", S("Value for application_name, shown in pg_stat_activity and server logs, so the DBA can identify statements issued by this assistant.", default="mcp-database")),
            ("include_timing", B("Report planning and execution time and the number of rows affected or returned, next to the result.", True)),
            ("search_path", SA("Schemas to put on the search_path for this call, in order, so unqualified table names resolve there first, e.g. ['sales', 'public'].")),
            ("explain_only", B("Instead of executing, return the statement that would be sent to the server after placeholders and options are applied. Useful to double-check generated SQL.", False)),
            ("read_replica", B("Route the call to a read replica when the connection defines one, to keep load off the primary. Replicas may lag a few seconds behind.", False)),
        ],
    },
    "slack": {
        "list": [("limit", I("Maximum number of items to return in one page. Slack recommends no more than 200.", default=100, minimum=1, maximum=1000)),
                 ("cursor", S("Pagination cursor from next_cursor in a previous response's response_metadata. Omit for the first page.")),
                 ("include_all_metadata", B("Return the full objects, including edited info, reactions, files and bot profile, instead of the trimmed form.", False))],
        "read": [],
        "write": [("as_user_display", S("Override the bot's display name for this message, e.g. 'Deploy Bot'. Requires the chat:write.customize scope.")),
                  ("icon_emoji", S("Emoji to use as the bot's avatar for this message, e.g. ':rocket:'. Requires chat:write.customize.")),
                  ("metadata", O({"event_type": S("Name of the event, e.g. 'deploy_finished'."), "event_payload": {"type": "object", "description": "Arbitrary JSON payload."}},
                                 "Structured message metadata that other apps can read, without showing it to users."))],
        "common": [
            ("team_id", S("Workspace id, required only when the app is installed in several workspaces of an Enterprise Grid organization.")),
            ("include_permalink", B("Add a permanent link (https://<workspace>.slack.com/archives/...) to each message or file returned, so it can be shared elsewhere.", True)),
            ("resolve_mentions", B("Replace raw user and channel mentions such as <@U024BE7LH> and <#C024BE7LR> with readable names in returned text.", True)),
            ("time_format", E(["unix", "iso8601", "relative"], "How to show message timestamps in the result: Slack's raw Unix seconds, ISO 8601 in UTC, or relative like '3 hours ago'.", "iso8601")),
        ],
    },
    "web": {
        "list": [("offset", I("Number of results to skip, for paging through results.", default=0, minimum=0))],
        "read": [],
        "write": [],
        "common": [
            ("timeout_seconds", I("Give up if the page or service does not respond within this many seconds.", default=20, minimum=1, maximum=120)),
            ("user_agent", S("User-Agent header to send. Some sites serve different content to bots; defaults to a standard desktop browser string.")),
            ("language", S("Preferred content language as a BCP 47 tag, sent as Accept-Language and used to localise results, e.g. 'en-US' or 'de'.")),
            ("respect_robots_txt", B("Refuse to access URLs that the site's robots.txt disallows for automated agents.", True)),
            ("country", S("Two-letter country code used to localise search results and geo-dependent pages, e.g. 'us', 'gb', 'de'.")),
        ],
    },
    "jira": {
        "list": [("start_at", I("Index of the first item to return (0-based), for pagination.", default=0, minimum=0)),
                 ("max_results", I("Maximum number of items per page. Jira Cloud caps this at 100 for most endpoints.", default=50, minimum=1, maximum=100)),
                 ("order_by", S("Field to sort by, prefixed with '-' for descending, e.g. '-updated' or 'rank'.")),
                 ("include_archived", B("Also return archived projects, versions or issues that are normally hidden from lists.", False))],
        "read": [],
        "write": [("notify_users", B("Send email notifications about this change to watchers and the assignee. Admins can set false to make quiet bulk changes.", True)),
                  ("override_screen_security", B("Allow setting fields that are hidden from the edit screen. Requires the Administer Jira permission or an app connection.", False)),
                  ("return_issue", B("Return the updated issue, with the fields given in 'fields', in the response instead of an empty body.", False))],
        "common": [
            ("site", S("Atlassian site to use when several are connected, e.g. 'acme.atlassian.net'. Defaults to the first configured site.")),
            ("expand_names", B("Return human-readable field names alongside field ids such as customfield_10016, so custom fields like Story Points and Sprint can be recognised.", True)),
            ("render_markup", B("Return rich-text fields rendered as HTML in addition to the raw Atlassian Document Format or wiki markup.", False)),
            ("properties", SA("Entity properties to include in the response, e.g. app-specific metadata stored on the issue or project. '*all' returns every property.")),
            ("validate_query", E(["strict", "warn", "none"], "How to treat JQL or field references that do not exist: 'strict' fails the call, 'warn' returns warnings with the results, 'none' ignores them.", "strict")),
            ("locale", S("Locale used for translated names of issue types, statuses and priorities in the response, e.g. 'en_US', 'de_DE'. Defaults to the user's profile setting.")),
            ("response_format", E(["concise", "detailed"], "'concise' returns the key fields in a compact form for chat; 'detailed' returns the full Jira REST payload including ids, self links and avatars.", "concise")),
            ("cache_ttl_seconds", I("Serve from the local cache if a response for the same request is at most this old. 0 always queries Jira.", default=0, minimum=0, maximum=3600)),
        ],
    },
}


def build_schema(tool):
    schema = {"type": "object", "properties": dict(tool["props"]), "required": list(tool["required"])}
    schema["additionalProperties"] = False
    return schema


def pad_tool(server, tool, budget):
    out = {"name": tool["name"], "description": tool["description"], "input_schema": build_schema(tool)}
    pool = POOLS[server]
    candidates = pool.get(tool["kind"], []) + pool["common"]
    props = out["input_schema"]["properties"]
    for pname, pschema in candidates:
        if est_tokens(full_schema_text(out)) >= budget:
            break
        if pname in props:
            continue
        props[pname] = pschema
    return out


def build():
    rng = random.Random(42)
    catalogs = []
    for name, tools in [("github", GITHUB), ("filesystem", FILESYSTEM), ("database", DATABASE),
                        ("slack", SLACK), ("web", WEB), ("jira", JIRA)]:
        count, target = TARGETS[name]
        assert len(tools) == count, (name, len(tools))
        assert len({t["name"] for t in tools}) == count, name
        factors = [rng.uniform(0.75, 1.25) for _ in tools]
        mean_f = sum(factors) / len(factors)
        budgets = [target * f / mean_f for f in factors]
        # tools that cannot reach their budget leave a deficit: hand it to the others
        built = []
        deficit = 0.0
        order = sorted(range(len(tools)), key=lambda i: est_tokens(json.dumps(tools[i]["props"])), reverse=True)
        results = [None] * len(tools)
        for pos, i in enumerate(order):
            remaining = len(order) - pos
            b = budgets[i] + deficit / remaining
            t = pad_tool(name, tools[i], b)
            deficit -= deficit / remaining
            deficit += b - est_tokens(full_schema_text(t))
            results[i] = t
        for t, src in zip(results, tools):
            t["preconditions"] = {"scopes": src["pre"].get("scopes", []), "outputs": src["pre"].get("outputs", []),
                                  "milestones": src["pre"].get("milestones", [])}
            built.append(t)
        catalogs.append({"name": name, "source": SOURCE, "target_mean_tokens": target, "tools": built})
    return {"catalogs": catalogs}


def main():
    data = build()
    with open(os.path.join(HERE, "catalog.json"), "w") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")
    for c in data["catalogs"]:
        toks = [est_tokens(full_schema_text(t)) for t in c["tools"]]
        print(f"{c['name']:<11} tools={len(toks):>3} est_mean_tokens={sum(toks) / len(toks):7.1f} (target {c['target_mean_tokens']})")


if __name__ == "__main__":
    main()

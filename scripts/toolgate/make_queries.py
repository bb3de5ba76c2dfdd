#!/usr/bin/env python3
"""Write queries.jsonl: hand-written, labelled user queries for the tool-gating benchmark.

Every query below was written by hand as a user would type it (paraphrases, indirect wording,
occasional typos); none is derived from the tool summaries. This script only expands the short
catalog aliases, checks every label against catalog.json and real_tools.json, numbers the
queries and assigns the dev/test split.

Aliases: g=github f=filesystem d=database s=slack w=web j=jira; git, time, fetch are the real
MCP servers (mcp-server-git, mcp-server-time, mcp-server-fetch).
State shorthand: "scopes=a,b;out=catalog/tool,...;ms=milestone,...".

Split rule: strata = (kind, first catalog in needs/must_exclude, or 'none'). Within a stratum,
queries are ordered by sha256(id) and the first round(0.4 * n) go to "dev" (at least one when
n >= 2), the rest to "test".

Standard library only. Run: python3 make_queries.py  (after catalog.py and list_real_tools.py)
"""
import fnmatch
import hashlib
import json
import os
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ALIAS = {"g": "github", "f": "filesystem", "d": "database", "s": "slack", "w": "web", "j": "jira",
         "git": "git", "time": "time", "fetch": "fetch"}

# ---------------------------------------------------------------- one tool: github
ONE_GITHUB = [
    ("file a bug in acme/checkout: the apply-coupon button does nothing on safari 17, label it bug + frontend", "g:create_issue"),
    ("can you open a ticket on our github repo (acme/api) saying the /health endpoint returns 500 when redis is down", "g:create_issue"),
    ("whats issue 1312 on acme/api about?", "g:get_issue"),
    ("pull up #88 in octo-org/widgets, I want to read the whole thread", "g:get_issue"),
    ("show me every open bug assigned to me in acme/api", "g:list_issues"),
    ("which issues in acme/web have no assignee right now", "g:list_issues"),
    ("close #431 in acme/web as not planned, we decided against it", "g:update_issue"),
    ("retitle issue 77 to 'Crash when uploading HEIC images' and add the ios label", "g:update_issue"),
    ("leave a note on #1290 that I can reproduce it on 3.2.1 too", "g:add_issue_comment"),
    ("reply on PR 512 thanking them and asking for a changelog entry", "g:add_issue_comment"),
    ("has anyone across github reported 'ECONNRESET' with undici 6 on node 20?", "g:search_issues"),
    ("find open issues in any of our acme repos mentioning 'memory leak' updated this month", "g:search_issues"),
    ("open a PR from feat/dark-mode into main on acme/web, mark it draft", "g:create_pull_request"),
    ("what PRs are still open against release/2.3?", "g:list_pull_requests"),
    ("list the pull requests people opened this week in acme/infra", "g:list_pull_requests"),
    ("is PR 904 mergeable yet or are checks still running", "g:get_pull_request"),
    ("who wrote pr #2231 and what branch does it target", "g:get_pull_request"),
    ("show me what actually changed in PR 318, just the go files", "g:get_pull_request_diff"),
    ("I need the diff for pull 77 in acme/docs, ignore whitespace noise", "g:get_pull_request_diff"),
    ("approve PR 655 in acme/api, looks good to me", "g:create_pull_request_review"),
    ("request changes on #702: the migration isn't reversible, leave that as the review comment", "g:create_pull_request_review"),
    ("get @maria and the platform team to review my pull request 1189", "g:request_reviewers"),
    ("where in our org's code do we call legacyAuthMiddleware?", "g:search_code"),
    ("grep github for usages of the STRIPE_WEBHOOK_SECRET env var in acme/*", "g:search_code"),
    ("find me a well maintained rust crate repo for parsing toml, popular ones", "g:search_repositories"),
    ("are there any open source kubernetes operators for clickhouse? sort by stars", "g:search_repositories"),
    ("show me the Dockerfile on the main branch of acme/api", "g:get_file_contents"),
    ("what does src/config/defaults.ts look like on tag v1.8.0?", "g:get_file_contents"),
    ("show the last 20 commits on main in acme/web", "g:list_commits"),
    ("who's been touching payments/refund.py lately? commit history pls", "g:list_commits"),
    ("what did commit 9f3c2ab change", "g:get_commit"),
    ("whats different between v2.3.0 and v2.4.0-rc1 in acme/api", "g:compare_commits"),
    ("how far behind main is the staging branch, which commits are missing", "g:compare_commits"),
    ("did the nightly CI workflow fail last night?", "g:list_workflow_runs"),
    ("list the failed github actions runs on main from today", "g:list_workflow_runs"),
    ("grab the logs of the failing job in actions run 8812345", "g:get_workflow_run_logs"),
    ("why did run 99120 go red? show me the error output", "g:get_workflow_run_logs"),
    ("what releases have we shipped for acme/cli?", "g:list_releases"),
    ("fork kubernetes/ingress-nginx into our acme org", "g:fork_repository"),
    ("when was the last release of acme/sdk-python and what was in it", "g:list_releases"),
]

# ---------------------------------------------------------------- one tool: filesystem
ONE_FS = [
    ("show me what's in ~/projects/api/.env.example", "f:read_file"),
    ("print the last 50 lines of /var/log/app/worker.log", "f:read_file"),
    ("open both package.json and tsconfig.json in the web folder so I can compare them", "f:read_multiple_files"),
    ("read all three of these: docs/intro.md docs/setup.md docs/faq.md", "f:read_multiple_files"),
    ("save this as notes/meeting-2024-06-03.md: action items - ship v2, fix login", "f:write_file"),
    ("create a .gitignore in the project root with node_modules and dist in it", "f:write_file"),
    ("make a folder called fixtures/images under tests", "f:create_directory"),
    ("whats in the downloads folder", "f:list_directory"),
    ("list the files under /srv/data/exports including hidden ones", "f:list_directory"),
    ("give me a tree view of the src directory, skip node_modules, 3 levels deep", "f:directory_tree"),
    ("rename report_final_v2.docx to report_final.docx", "f:move_file"),
    ("move old_logs/ into archive/2023/", "f:move_file"),
    ("find every .yaml file under the deploy folder", "f:search_files"),
    ("where are all the test_*.py files in this project", "f:search_files"),
    ("how big is data/dump.sql and when was it last modified", "f:get_file_info"),
    ("is /etc/app/config.toml readable by everyone? check its permissions", "f:get_file_info"),
]

# ---------------------------------------------------------------- one tool: database
ONE_DB = [
    ("how many orders did we get yesterday? count them in the orders table", "d:run_query"),
    ("top 10 customers by lifetime revenue please", "d:run_query"),
    ("whats the average basket size per country for May", "d:run_query"),
    ("which tables are in the analytics schema", "d:list_tables"),
    ("what tables do we even have in the billing db", "d:list_tables"),
    ("what columns does public.invoices have and which are nullable", "d:describe_table"),
    ("does the users table have a foreign key to accounts?", "d:describe_table"),
    ("list the schemas in the warehouse database", "d:list_schemas"),
    ("why is this slow: SELECT * FROM events WHERE user_id = 42 ORDER BY ts DESC — show the plan with real timings", "d:explain_query"),
    ("explain plan for the monthly revenue query, json format", "d:explain_query"),
    ("which indexes exist on the payments table, and are any unused", "d:list_indexes"),
    ("how big is the events table and when was it last vacuumed", "d:get_table_stats"),
    ("is the sessions table bloated? lots of dead tuples?", "d:get_table_stats"),
    ("take a backup of the db before I start messing with it, label it pre-cleanup", "d:backup_database"),
    ("dump just the customers and orders tables to a backup", "d:backup_database"),
    ("what backups do we have from this week", "d:list_backups"),
    ("when was the last successful backup taken", "d:list_backups"),
    ("who's connected to the prod db right now and what are they running", "d:list_active_connections"),
    ("any queries running longer than 5 minutes?", "d:list_active_connections"),
    ("create a table audit_events with id bigserial pk, actor text, action text, at timestamptz default now()", "d:create_table"),
    ("cancel query pid 48211, its hogging the db", "d:kill_query"),
    ("what's the schema of the order_items table", "d:describe_table"),
]

# ---------------------------------------------------------------- one tool: slack
ONE_SLACK = [
    ("which slack channels do we have about the mobile app", "s:list_channels"),
    ("list all public channels, not archived", "s:list_channels"),
    ("what did people say in #incidents in the last hour", "s:get_channel_history"),
    ("catch me up on #design-review since this morning", "s:get_channel_history"),
    ("show the replies to that deploy announcement thread in #releases (ts 1718012345.000200)", "s:get_thread_replies"),
    ("did anyone on slack mention the invoice PDF bug last week", "s:search_messages"),
    ("find the message where Priya shared the new VPN instructions", "s:search_messages"),
    ("search slack for 'quarterly okr' in #leadership", "s:search_messages"),
    ("thumbs up the last message in #standup (ts 1718100000.12)", "s:add_reaction"),
    ("react with :eyes: to ts 1717999111.000300 in #support so they know I'm on it", "s:add_reaction"),
    ("fix the typo in the message the bot posted in #announcements at 1718000000.1 — 'tommorow' should be 'tomorrow'", "s:update_message"),
    ("who's in the workspace from the data team? list users", "s:list_users"),
    ("what's Jonas's title and timezone on slack?", "s:get_user_profile"),
    ("get me the email address of @kwame from his slack profile", "s:get_user_profile"),
    ("make a new channel #proj-atlas for the atlas project", "s:create_channel"),
    ("add @lena and @tomasz to #proj-atlas", "s:invite_to_channel"),
    ("change the #oncall topic to 'Primary: Sam, Secondary: Ade'", "s:set_channel_topic"),
    ("set #general's topic to 'Office closed Dec 24-26'", "s:set_channel_topic"),
]

# ---------------------------------------------------------------- one tool: web
ONE_WEB = [
    ("search the web for the postgres 17 release notes", "w:web_search"),
    ("what are people recommending for self-hosted error tracking these days? search around", "w:web_search"),
    ("look up the official docs page for python's asyncio.TaskGroup", "w:web_search"),
    ("any news today about the AWS us-east-1 outage?", "w:news_search"),
    ("latest headlines on the EU AI act", "w:news_search"),
    ("take a screenshot of https://acme.com/pricing, full page", "w:screenshot_page"),
    ("how does our landing page look on a 375px wide phone? screenshot https://acme.com", "w:screenshot_page"),
    ("list every link on https://acme.com/docs that points to our own site", "w:extract_links"),
    ("get the table of country codes from https://en.wikipedia.org/wiki/ISO_3166-1 as csv", "w:extract_tables"),
    ("pull the pricing comparison table off https://vendor.example.com/plans", "w:extract_tables"),
    ("what og:image and description does https://acme.com/blog/launch have?", "w:get_page_metadata"),
    ("are any of these dead? https://acme.com/old-docs https://acme.com/careers https://status.acme.com", "w:check_url_status"),
    ("does https://api.acme.com/v1 still redirect somewhere?", "w:check_url_status"),
    ("download the CSV at https://data.gov.example/exports/air_quality_2023.csv", "w:download_file"),
    ("save the pdf from https://arxiv.org/pdf/2310.06825 locally", "w:download_file"),
]

# ---------------------------------------------------------------- one tool: jira
ONE_JIRA = [
    ("create a bug in PAY: refunds over 10k fail silently, priority high", "j:create_issue"),
    ("new story in MOBILE for offline mode on the orders screen, 5 points", "j:create_issue"),
    ("add a jira task to INFRA to rotate the staging TLS certs", "j:create_issue"),
    ("what's the status of PAY-1423?", "j:get_issue"),
    ("give me the details on MOB-812 incl. comments", "j:get_issue"),
    ("bump PAY-1500 to highest priority and add the 'regression' label", "j:update_issue"),
    ("change the summary of INFRA-77 to 'Migrate CI runners to arm64'", "j:update_issue"),
    ("all my open jira tickets", "j:search_issues"),
    ("which bugs in PAY were created this sprint and are still unresolved", "j:search_issues"),
    ("anything in MOBILE blocked or flagged right now?", "j:search_issues"),
    ("what transitions can I do on INFRA-301", "j:get_transitions"),
    ("give MOB-900 to Aisha", "j:assign_issue"),
    ("unassign me from PAY-1388", "j:assign_issue"),
    ("comment on PAY-1423: waiting on the bank's response, ETA thursday", "j:add_comment"),
    ("who changed the priority on INFRA-12 and when", "j:get_issue_changelog"),
    ("mark PAY-1600 as blocking PAY-1602", "j:link_issues"),
    ("MOB-400 is a duplicate of MOB-388, link them", "j:link_issues"),
    ("add Chen as a watcher on INFRA-240", "j:add_watcher"),
    ("attach ./crash_report.txt to MOB-812", "j:add_attachment"),
    ("how much time has been logged on PAY-1423 so far", "j:get_worklogs"),
    ("which jira projects can I see", "j:list_projects"),
    ("who's the lead on the INFRA project and what issue types does it use", "j:get_project"),
    ("what components exist in PAY", "j:list_components"),
    ("list the scrum boards for MOBILE", "j:list_boards"),
    ("what columns does board 17 have", "j:get_board_configuration"),
    ("which sprints are coming up on board 12", "j:list_sprints"),
    ("what's in sprint 318, who's working on what", "j:get_sprint_issues"),
    ("set up next sprint 'PAY Sprint 43' on board 12, goal: finish refunds v2", "j:create_sprint"),
    ("move PAY-1610 and PAY-1611 into sprint 319", "j:move_issues_to_sprint"),
    ("how did sprint 317 go? committed vs done", "j:get_sprint_report"),
    ("create an epic 'Checkout redesign' in WEB, due end of Q3", "j:create_epic"),
    ("what stories are under epic PAY-1000 and which are done", "j:get_epic_issues"),
    ("which fix versions are still unreleased in MOBILE", "j:list_versions"),
    ("add a version 2.8.0 to PAY with release date 2024-09-01", "j:create_version"),
    ("look up the jira account for r.okafor@acme.com", "j:get_user"),
    ("show me my saved jira filters", "j:list_filters"),
    ("list the stuff in the PAY backlog that has no estimate", "j:search_issues"),
]

# ---------------------------------------------------------------- one tool: git / time / fetch (real servers)
ONE_GIT = [
    ("what's the state of my working tree in ~/code/api, anything uncommitted?", "git:git_status"),
    ("did I leave any untracked files in /home/dev/zoo", "git:git_status"),
    ("show me my unstaged changes in the local repo", "git:git_diff_unstaged"),
    ("what have I staged so far in ~/code/web? show the diff", "git:git_diff_staged"),
    ("diff my local checkout against the develop branch", "git:git_diff"),
    ("commit what's staged in ~/code/api with message 'fix null check in refund handler'", "git:git_commit"),
    ("stage src/main.rs and Cargo.toml in my local repo", "git:git_add"),
    ("unstage everything, I added the wrong files", "git:git_reset"),
    ("show the last 5 commits in my local clone at /work/main", "git:git_log"),
    ("what did I commit locally between monday and wednesday", "git:git_log"),
    ("make a local branch called spike/cache-layer off main", "git:git_create_branch"),
    ("switch my local repo over to the release-2.4 branch", "git:git_checkout"),
    ("show me commit HEAD~2 in the local repo", "git:git_show"),
    ("what did README.md look like at v1.0 in my local checkout? (v1.0:README.md)", "git:git_show"),
    ("which local branches contain commit a1b2c3d", "git:git_branch"),
    ("list all branches, remote ones too, in ~/code/web", "git:git_branch"),
]
ONE_TIME = [
    ("what time is it in Tokyo right now", "time:get_current_time"),
    ("is it still morning in Sao Paulo?", "time:get_current_time"),
    ("current time in Europe/Berlin?", "time:get_current_time"),
    ("whats the local time for our sydney office atm", "time:get_current_time"),
    ("if it's 3pm in New York what time is it in Bangalore", "time:convert_time"),
    ("convert 09:30 London time to Los Angeles time", "time:convert_time"),
    ("standup is 10:00 CET, what's that for the folks in Toronto", "time:convert_time"),
    ("16:45 in Singapore = ? in Berlin", "time:convert_time"),
    ("the webinar starts at 14:00 America/Chicago — when is that in Tokyo", "time:convert_time"),
]
ONE_FETCH = [
    ("fetch https://raw.githubusercontent.com/acme/api/main/README.md and show me the text", "fetch:fetch", "w:fetch_url"),
    ("read https://blog.example.com/postmortem-2024-05 for me", "fetch:fetch", "w:fetch_url"),
    ("get me the raw html of https://example.org, no markdown conversion", "fetch:fetch", "w:fetch_url"),
    ("that article at https://news.example.com/long-read got cut off, continue from character 5000", "fetch:fetch"),
    ("what does the page https://docs.python.org/3/whatsnew/3.13.html say about the new REPL", "fetch:fetch", "w:fetch_url"),
    ("open https://status.acme.com and tell me if anything is degraded", "fetch:fetch", "w:fetch_url"),
    ("grab the first 2000 chars of https://en.wikipedia.org/wiki/Raft_(algorithm)", "fetch:fetch", "w:fetch_url"),
    ("pull the contents of https://acme.com/changelog", "fetch:fetch", "w:fetch_url"),
    ("read this page in markdown: https://www.rfc-editor.org/rfc/rfc9110", "w:fetch_url", "fetch:fetch"),
    ("give me the text of https://acme.com/terms as plain text", "w:fetch_url", "fetch:fetch"),
]
# ---------------------------------------------------------------- preconditions satisfied (state given)
GW = "scopes=github:write"
SAT = [
    ("merge PR 655 in acme/api, squash please", "g:merge_pull_request", GW + ";ms=review_approved"),
    ("reviews are in on #1189, go ahead and merge it and delete the branch", "g:merge_pull_request", GW + ";ms=review_approved"),
    ("delete the stale branch feature/old-onboarding from acme/web", "g:delete_branch", GW),
    ("branch off main as fix/login-timeout in acme/api", "g:create_branch", GW),
    ("commit the updated CONTRIBUTING.md straight to the docs branch", "g:create_or_update_file", GW),
    ("push the three generated client files to branch codegen/v2 in one commit", "g:push_files", GW),
    ("rerun only the failed jobs of workflow run 8812345", "g:rerun_workflow", GW),
    ("plan's approved — tag v2.4.0 from main and publish the release with autogenerated notes", "g:create_release", GW + ";ms=plan_confirmed"),
    ("ok we agreed on the rollout, deploy main to staging", "g:trigger_deployment", GW + ";ms=plan_confirmed"),
    ("now change the timeout in that config from 30 to 60", "f:edit_file", "out=filesystem/read_file"),
    ("in the files you just read, rename the function parse_cfg to parse_config in utils.py", "f:edit_file", "out=filesystem/read_multiple_files"),
    ("add a row to feature_flags: name=new_checkout, enabled=false", "d:insert_rows", "scopes=db:write"),
    ("set status to 'refunded' for order 88123", "d:update_rows", "scopes=db:write"),
    ("purge the rows in login_attempts older than 90 days", "d:delete_rows", "scopes=db:write"),
    ("add an index on orders(customer_id, created_at), build it concurrently", "d:create_index", "scopes=db:write"),
    ("go ahead with the plan and drop temp_import_2023", "d:drop_table", "scopes=db:write;ms=plan_confirmed"),
    ("migration plan is signed off, run migrations to latest", "d:run_migration", "scopes=db:write;ms=plan_confirmed"),
    ("restore backup bk-2024-06-02-0300 into a new database called billing_restore, as planned", "d:restore_backup", "scopes=db:write;ms=plan_confirmed"),
    ("export what that query just returned as csv", "d:export_query_results", "out=database/run_query"),
    ("post 'deploy of api v2.4 done ✅' in #releases", "s:post_message", "scopes=slack:write"),
    ("tell #general the office wifi is back", "s:post_message", "scopes=slack:write"),
    ("answer in that thread (ts 1718012345.000200, #support) that the fix is live", "s:reply_in_thread", "scopes=slack:write"),
    ("delete the bot message I posted by mistake in #alerts, ts 1718100200.5", "s:delete_message", "scopes=slack:write"),
    ("upload the junit report to #qa", "s:upload_file", "scopes=slack:write"),
    ("give me a short summary of what those results say, with sources", "w:summarize_search_results", "out=web/web_search"),
    ("summarize the news articles you found", "w:summarize_search_results", "out=web/news_search"),
    ("move PAY-1423 to Done", "j:transition_issue", "scopes=jira:write"),
    ("start progress on MOB-900", "j:transition_issue", "scopes=jira:write"),
    ("log 2h 30m on INFRA-240 for the cert rotation", "j:log_work", "scopes=jira:write"),
    ("delete PAY-1777, it was created by accident", "j:delete_issue", "scopes=jira:write"),
    ("create these stories in MOBILE: login with passkeys, biometric unlock, remember device", "j:bulk_create_issues", "scopes=jira:write"),
    ("sprint plan is confirmed, start sprint 319 ending june 21", "j:start_sprint", "scopes=jira:write;ms=plan_confirmed"),
    ("close out sprint 318 and push unfinished stuff to the backlog", "j:complete_sprint", "scopes=jira:write"),
    ("release plan confirmed — mark PAY 2.7.0 as released today", "j:release_version", "scopes=jira:write;ms=plan_confirmed"),
]

# ---------------------------------------------------------------- preconditions NOT satisfied: tool -> must_exclude
# (query, needs, state, must_exclude[, also_ok])
UNSAT = [
    ("merge #482 in acme/api, squash it", "", GW, "g:merge_pull_request"),
    ("merge the dependabot PR 733, it's approved", "", "ms=review_approved", "g:merge_pull_request"),
    ("just merge pr 1201 already, nobody's going to review it", "", GW, "g:merge_pull_request"),
    ("cut the v3.0.0 release on acme/web now", "", GW, "g:create_release"),
    ("delete branch feature/old-auth in acme/api", "", "", "g:delete_branch"),
    ("rerun the failed jobs on run 9912", "", "", "g:rerun_workflow"),
    ("deploy main to production", "", GW, "g:trigger_deployment"),
    ("push these two files to the docs-fix branch: docs/a.md docs/b.md", "", "", "g:push_files"),
    ("create a branch hotfix/payment-null in acme/api", "", "", "g:create_branch"),
    ("replace the install section of README.md in acme/cli and commit it", "g:get_file_contents", "", "g:create_or_update_file"),
    ("in config/app.yaml change the port from 8080 to 9090", "f:read_file", "", "f:edit_file"),
    ("swap every 'http://' for 'https://' in docs/links.md", "f:read_file", "", "f:edit_file"),
    ("delete all sessions older than 90 days from user_sessions", "", "", "d:delete_rows"),
    ("insert a test customer into customers with email test@acme.com", "", "", "d:insert_rows"),
    ("mark order 8812 as cancelled in the db", "", "scopes=db:read", "d:update_rows"),
    ("drop the temp_import_2023 table", "", "scopes=db:write", "d:drop_table"),
    ("run the pending migrations on staging", "", "scopes=db:write", "d:run_migration"),
    ("restore last night's backup", "d:list_backups", "scopes=db:write", "d:restore_backup"),
    ("export last month's churned customers to csv", "d:run_query", "", "d:export_query_results"),
    ("add an index on orders(customer_id)", "", "", "d:create_index"),
    ("post in #general that the office is closed friday", "", "", "s:post_message"),
    ("reply in the #support thread 1718012345.000200 saying it's fixed", "", "scopes=slack:read", "s:reply_in_thread"),
    ("delete my last bot message in #alerts (ts 1718100200.5)", "", "", "s:delete_message"),
    ("upload the error log to #oncall", "", "", "s:upload_file"),
    ("search for rust async runtime comparisons and summarize the top results", "w:web_search", "", "w:summarize_search_results"),
    ("sum up what the articles say", "", "", "w:summarize_search_results"),
    ("close PAY-1423 as done", "", "", "j:transition_issue"),
    ("delete MOB-77, it's a dupe", "", "", "j:delete_issue"),
    ("log 3h on PAY-1500", "", "scopes=jira:read", "j:log_work"),
    ("start sprint 320 now", "", "scopes=jira:write", "j:start_sprint"),
    ("release version 2.7.0 in PAY", "", "scopes=jira:write", "j:release_version"),
    ("create these 12 stories from the list I pasted", "", "", "j:bulk_create_issues", "j:create_issue"),
    ("close the current sprint 318, move leftovers to backlog", "", "", "j:complete_sprint"),
]
# ---------------------------------------------------------------- two tools (query, "a b", state)
SW = "scopes=slack:write"
TWO = [
    ("find the failing test in acme/api's last CI run and post the error to #dev", "g:get_workflow_run_logs s:post_message", SW),
    ("the build is red again, can you see what changed in main since yesterday and ping #backend about it", "g:list_commits s:post_message", SW),
    ("search our code for TODO(security) and file one github issue listing them", "g:search_code g:create_issue", ""),
    ("open a jira bug for github issue #1312 in acme/api, copy over the details", "g:get_issue j:create_issue", ""),
    ("summarize PR 904 and paste the summary as a comment on PAY-1423", "g:get_pull_request j:add_comment", ""),
    ("list open PRs in acme/web and share the list in #frontend", "g:list_pull_requests s:post_message", SW),
    ("what's in release v2.4.0? post the notes to #announcements", "g:list_releases s:post_message", SW),
    ("check which jira tickets are in sprint 318 and find their PRs on github", "j:get_sprint_issues g:search_issues", ""),
    ("grab the Makefile from acme/api main and save it locally as Makefile.upstream", "g:get_file_contents f:write_file", ""),
    ("read our local openapi.yaml and open a github issue if the /v2/refunds path is missing", "f:read_file g:create_issue", ""),
    ("how many signups did we get today? post the number in #growth", "d:run_query s:post_message", SW),
    ("find the slowest queries running right now and tell #dba", "d:list_active_connections s:post_message", SW),
    ("describe the invoices table and write the column list to docs/invoices.md", "d:describe_table f:write_file", ""),
    ("count failed payments per provider this week and put it in a jira comment on PAY-1500", "d:run_query j:add_comment", ""),
    ("look up what time it is in Singapore and tell #apac-team we'll start at 9 their time", "time:get_current_time s:post_message", SW),
    ("convert 4pm Berlin to San Francisco time and create a jira task in OPS for the maintenance window at that time", "time:convert_time j:create_issue", ""),
    ("search the web for the CVE on log4j 2.17 and open a jira ticket in SEC for it", "w:web_search j:create_issue", ""),
    ("read https://status.stripe.com and post a heads up in #payments if there's an incident", "fetch:fetch s:post_message", SW, "w:fetch_url"),
    ("fetch the changelog at https://nodejs.org/en/blog/release/v22.3.0 and file a github issue to upgrade node in acme/api", "fetch:fetch g:create_issue", "", "w:fetch_url"),
    ("screenshot https://acme.com/checkout and upload it to #design", "w:screenshot_page s:upload_file", SW),
    ("download the quarterly report pdf from https://acme.com/ir/q2.pdf and attach it to FIN-88", "w:download_file j:add_attachment", ""),
    ("what did people in #incidents say about the outage, make a jira bug from it in INFRA", "s:get_channel_history j:create_issue", ""),
    ("find the slack thread where we decided on the new retry policy and summarize it in a github comment on #812", "s:search_messages g:add_issue_comment", ""),
    ("check my local git status and then commit everything staged with 'wip'", "git:git_status git:git_commit", ""),
    ("stage README.md and commit it with message 'docs: update install steps'", "git:git_add git:git_commit", ""),
    ("show my unstaged diff and save it to /tmp/changes.patch", "git:git_diff_unstaged f:write_file", ""),
    ("look at the last 10 local commits and post a changelog to #releases", "git:git_log s:post_message", SW),
    ("create local branch fix/typo off main and switch to it", "git:git_create_branch git:git_checkout", ""),
    ("list all jira bugs in PAY with priority highest and post the count in #payments", "j:search_issues s:post_message", SW),
    ("what's the status of MOB-812? reply in the #mobile thread 1718000000.2 with it", "j:get_issue s:reply_in_thread", SW),
    ("find who owns the INFRA project in jira and DM them on slack that the certs expire friday", "j:get_project s:post_message", SW),
    ("pull the sprint report for 317 and save it to reports/sprint-317.md", "j:get_sprint_report f:write_file", ""),
    ("get the list of tables in analytics and the size of the biggest one", "d:list_tables d:get_table_stats", ""),
    ("show columns of events and the indexes on it, I want to tune a query", "d:describe_table d:list_indexes", ""),
    ("search the web for the pgbouncer docs on pool_mode and read the top page", "w:web_search fetch:fetch", "", "w:fetch_url"),
    ("find the config files named *.toml in the repo and open them", "f:search_files f:read_multiple_files", ""),
    ("list the files in ./migrations and show me the latest one", "f:list_directory f:read_file", ""),
    ("what time is it in London and what's 5pm there in Tokyo", "time:get_current_time time:convert_time", ""),
    ("compare v2.3.0..main in acme/api and open a draft release PR from main into release/2.4", "g:compare_commits g:create_pull_request", ""),
    ("check the github actions runs for the release branch and get logs of the one that failed", "g:list_workflow_runs g:get_workflow_run_logs", ""),
    ("read the diff of PR 318 then leave a review comment (not approval) about the missing tests", "g:get_pull_request_diff g:create_pull_request_review", ""),
    ("find repos with good examples of MCP servers in go and grab their README", "g:search_repositories g:get_file_contents", ""),
    ("list the members of the data team on slack and invite them to #proj-warehouse", "s:list_users s:invite_to_channel", ""),
    ("make a channel #inc-2024-06-03 and set its topic to the incident summary", "s:create_channel s:set_channel_topic", ""),
    ("what's Priya's timezone on slack and what time is it for her right now", "s:get_user_profile time:get_current_time", ""),
    ("get all the links from https://acme.com/docs and check which ones are broken", "w:extract_links w:check_url_status", ""),
    ("news on the openssl vulnerability today and a jira ticket in SEC to track patching", "w:news_search j:create_issue", ""),
    ("grab the pricing table from https://competitor.example.com/pricing and save it as data/competitor.csv", "w:extract_tables f:write_file", ""),
    ("check if https://acme.com/launch is up and post the result in #marketing", "w:check_url_status s:post_message", SW),
    ("export the customers with no orders since january: query them and put the list into a jira comment on CRM-12", "d:run_query j:add_comment", ""),
    ("pull the last 3 commits on main from acme/api and log 1h on PAY-1423 for reviewing them", "g:list_commits j:log_work", "scopes=jira:write"),
    ("list sprints on board 12 and move PAY-1700 into the next future one", "j:list_sprints j:move_issues_to_sprint", ""),
    ("create epic 'Passkeys' in MOBILE and a first story under it for the login screen", "j:create_epic j:create_issue", ""),
    ("search jira for issues mentioning 'webhook retries' and find matching code in acme/api", "j:search_issues g:search_code", ""),
    ("get the issue MOB-812 attachments list and then the crash log file from our repo at logs/crash-812.txt", "j:get_issue g:get_file_contents", ""),
    ("read the local CHANGELOG.md and create a jira version 2.8.0 in PAY with that description", "f:read_file j:create_version", ""),
    ("see what I've staged locally and create a github issue describing the change for review", "git:git_diff_staged g:create_issue", ""),
    ("which local branches do I have and are any of them merged into main on github? list PRs too", "git:git_branch g:list_pull_requests", ""),
    ("show me commit 4e1f0aa in my local repo and the corresponding PR on github", "git:git_show g:search_issues", ""),
    ("what time is it in New York and any breaking news there", "time:get_current_time w:news_search", ""),
    ("take a backup of the orders table, then list backups to confirm it's there", "d:backup_database d:list_backups", ""),
    ("open the local docker-compose.yml and the one in acme/infra on github so I can compare", "f:read_file g:get_file_contents", ""),
    ("who touched the refund service lately on github, and message them on slack — start with the commit list", "g:list_commits s:get_user_profile", ""),
    ("fetch https://api.github.com/meta and save the JSON to data/github-meta.json", "fetch:fetch f:write_file", "", "w:fetch_url"),
    ("read the runbook at https://wiki.acme.com/runbooks/db-failover and open a jira task in OPS to rehearse it", "fetch:fetch j:create_issue", "", "w:fetch_url"),
    ("check my working tree and list the last 3 commits in ~/code/web", "git:git_status git:git_log", ""),
    ("which jira user is 'Ade' and assign INFRA-301 to them", "j:get_user j:assign_issue", ""),
    ("show the changelog of PAY-1500 and who's watching it... actually just add me as watcher after", "j:get_issue_changelog j:add_watcher", ""),
    ("react with :white_check_mark: to the deploy request in #releases thread 1718012345.000200 and read the replies", "s:add_reaction s:get_thread_replies", ""),
    ("convert 11:00 America/New_York to Asia/Kolkata and tell #standup", "time:convert_time s:post_message", SW),
]
# ---------------------------------------------------------------- no tool at all
NONE = [
    "hey, how's it going?",
    "thanks, that was really helpful!",
    "what's the difference between git merge and git rebase, conceptually?",
    "explain what a btree index is like I'm five",
    "can you write me a python function that reverses a linked list",
    "what does HTTP 429 mean",
    "how do I write a JQL query that finds unresolved bugs? just explain the syntax",
    "whats a good name for a slack channel about our hackathon? give me 5 ideas",
    "translate 'the deploy is delayed until tomorrow' into german",
    "what is the capital of australia",
    "summarize the idea behind the CAP theorem in two sentences",
    "write a haiku about on-call rotations",
    "is it better to squash or merge commits for small teams? opinions?",
    "how many seconds are in a week",
    "what's the time complexity of quicksort in the worst case",
    "convert 72 fahrenheit to celsius",
    "explain the difference between a left join and an inner join",
    "help me word a polite message declining a meeting",
    "what's a semver pre-release tag look like",
    "lol ok",
    "who wrote 'the mythical man-month'?",
    "regex to match an email address, roughly",
    "what does 'idempotent' mean for an API",
    "give me a 3 bullet agenda for a sprint retro",
    "how does TLS certificate pinning work",
    "can you proofread this: 'Their going to merge it tomorow'",
    "whats 17% of 2340",
    "recommend a book on distributed systems",
    "what is an MCP server, in one paragraph?",
    "what's the difference between a story and an epic in scrum",
    "draft a short apology email to a customer about a billing error",
    "how do timezones with half-hour offsets work, e.g. India?",
    "is UTC the same as GMT?",
    "explain what a webhook is",
    "good morning!",
    "tell me a joke about databases",
    "how should I structure a monorepo for 3 services and a shared lib",
    "what's the plural of 'schema'?",
    "describe the four DORA metrics",
    "in SQL, what does COALESCE do",
    "which is faster in python, a list comprehension or map?",
    "what does the -p flag do in mkdir",
    "write a commit message for a change that fixes a null pointer in the refund handler",
    "I'm feeling burnt out this week, any tips?",
    "explain OKRs vs KPIs",
    "what markdown syntax makes a table",
    "what's the difference between 'git fetch' and 'git pull'",
    "nvm, forget it",
    "rate my variable name: tmpDataFinal2",
    "what is a foreign key",
    "how do I center a div",
    "can you explain what a race condition is with an example",
    "what's the best way to estimate story points, fibonacci or t-shirt sizes?",
    "what year did unix time start",
]


# ================================================================ build
def ids(spec):
    out = []
    for tok in (spec or "").split():
        a, name = tok.split(":", 1)
        out.append(f"{ALIAS[a]}/{name}")
    return out


def state(spec):
    st = {"scopes": [], "tool_outputs": [], "milestones": []}
    key = {"scopes": "scopes", "out": "tool_outputs", "ms": "milestones"}
    for part in (spec or "").split(";"):
        if part:
            k, v = part.split("=", 1)
            st[key[k]] = v.split(",")
    return st


def load_tools():
    tools = {}
    with open(os.path.join(HERE, "catalog.json")) as f:
        for c in json.load(f)["catalogs"]:
            for t in c["tools"]:
                tools[f"{c['name']}/{t['name']}"] = t["preconditions"]
    with open(os.path.join(HERE, "real_tools.json")) as f:
        for server, lst in json.load(f).items():
            for t in lst:
                tools[f"{server}/{t['name']}"] = {"scopes": [], "outputs": [], "milestones": []}
    return tools


def has_preconditions(p):
    return bool(p["scopes"] or p["outputs"] or p["milestones"])


def satisfied(p, st):
    """Reference semantics: every scope and milestone present; every outputs pattern matches
    at least one prior output. Outputs are 'catalog/tool' ids; a pattern without '/' is matched
    (fnmatch) against the tool-name part, a pattern with '/' against the whole id."""
    if not set(p["scopes"]) <= set(st["scopes"]):
        return False
    if not set(p["milestones"]) <= set(st["milestones"]):
        return False
    for pat in p["outputs"]:
        if not any(fnmatch.fnmatchcase(o if "/" in pat else o.split("/", 1)[1], pat) for o in st["tool_outputs"]):
            return False
    return True


def rows():
    for group in (ONE_GITHUB, ONE_FS, ONE_DB, ONE_SLACK, ONE_WEB, ONE_JIRA, ONE_GIT, ONE_TIME, ONE_FETCH):
        for q in group:
            yield {"query": q[0], "needs": ids(q[1]), "state": state(""), "must_exclude": [],
                   "also_ok": ids(q[2]) if len(q) > 2 else [], "kind": "one"}
    for q in SAT:
        yield {"query": q[0], "needs": ids(q[1]), "state": state(q[2]), "must_exclude": [], "also_ok": [], "kind": "precondition"}
    for q in UNSAT:
        yield {"query": q[0], "needs": ids(q[1]), "state": state(q[2]), "must_exclude": ids(q[3]),
               "also_ok": ids(q[4]) if len(q) > 4 else [], "kind": "precondition"}
    for q in TWO:
        yield {"query": q[0], "needs": ids(q[1]), "state": state(q[2]), "must_exclude": [],
               "also_ok": ids(q[3]) if len(q) > 3 else [], "kind": "two"}
    for q in NONE:
        yield {"query": q, "needs": [], "state": state(""), "must_exclude": [], "also_ok": [], "kind": "none"}


def main():
    tools = load_tools()
    out = []
    seen = set()
    for i, r in enumerate(rows(), 1):
        qid = f"q{i:04d}"
        assert r["query"] not in seen, r["query"]
        seen.add(r["query"])
        for t in r["needs"] + r["must_exclude"] + r["also_ok"]:
            assert t in tools, (qid, t)
        assert not set(r["needs"]) & set(r["must_exclude"]), qid
        pre = None
        for t in r["needs"] + r["also_ok"]:
            if has_preconditions(tools[t]):
                assert satisfied(tools[t], r["state"]), (qid, t, "needs a tool whose precondition the state does not meet")
                pre = "satisfied"
        for t in r["must_exclude"]:
            assert has_preconditions(tools[t]) and not satisfied(tools[t], r["state"]), (qid, t)
            pre = "unsatisfied"
        if r["kind"] == "precondition":
            assert pre is not None, qid
        expected = {"one": 1, "two": 2, "none": 0}.get(r["kind"])
        if expected is not None:
            assert len(r["needs"]) == expected, qid
        labelled = r["needs"] + r["must_exclude"]
        stratum = (r["kind"], labelled[0].split("/")[0] if labelled else "none")
        out.append({"id": qid, "query": r["query"], "needs": r["needs"], "state": r["state"],
                    "must_exclude": r["must_exclude"], "also_ok": r["also_ok"], "kind": r["kind"],
                    "precondition": pre, "_stratum": stratum})
    strata = defaultdict(list)
    for r in out:
        strata[r["_stratum"]].append(r)
    for members in strata.values():
        members.sort(key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest())
        n_dev = round(0.4 * len(members))
        if len(members) >= 2:
            n_dev = max(1, n_dev)
        for j, r in enumerate(members):
            r["split"] = "dev" if j < n_dev else "test"
    with open(os.path.join(HERE, "queries.jsonl"), "w") as f:
        for r in out:
            del r["_stratum"]
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    # report
    print("total", len(out), dict(Counter(r["split"] for r in out)))
    print("kind", dict(Counter((r["kind"], r["split"]) for r in out)))
    print("precondition", dict(Counter((r["precondition"], r["split"]) for r in out if r["precondition"])))
    print("len(needs)", dict(Counter(len(r["needs"]) for r in out)))
    cat = Counter()
    for r in out:
        for c in {t.split("/")[0] for t in r["needs"] + r["must_exclude"]}:
            cat[(c, r["split"])] += 1
    print("catalog", dict(sorted(cat.items())))


if __name__ == "__main__":
    main()

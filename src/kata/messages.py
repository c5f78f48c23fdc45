"""The message catalog: every UI string a learner reads, per language.

The English text is the key (it stays readable where it is used: `_("{n} runs", n=3)`); `ZH`
maps it to the Chinese. A string missing here shows in English; the harness test
`test_i18n.py` fails when a `_()` string in src/kata has no Chinese. Terms follow
docs/glossary.zh.md; commands, file names and identifiers stay as they are.
"""

from __future__ import annotations

ZH: dict[str, str] = {
    # verdicts (kata grade, watch, practice)
    "{kata}: crashed ({target})": "{kata}：评测进程崩溃（{target}）",
    "{kata}: nothing graded, {n} not covered ({target})":
        "{kata}：没有可评测的用例，{n} 个未覆盖（{target}）",
    "{kata}: {passed}/{graded} passing": "{kata}：{passed}/{graded} 通过",
    " — not started": " — 还没开始",
    " — all passing": " — 全部通过",
    " — breaks the kata's rules, not passing": " — 违反了本题的规则，不算通过",
    "{kata}: {passed}/{graded} selected passing — partial run":
        "{kata}：选中的 {passed}/{graded} 通过 — 只跑了一部分",
    ", not recorded as passing": "，不记为通过",
    "Hints for {kata} start again from level 1 (the ones you saw stay in your stats).":
        "{kata} 的提示从第 1 条重新开始（看过的仍记在统计里）。",
    "  Grade the whole kata to record it: nox -s {kata}": "  完整评测一次才会记为通过：nox -s {kata}",
    "{kata}: not started ({target})": "{kata}：还没开始（{target}）",
    "{kata}: {passed} passed, then a failure — quick check ({target})":
        "{kata}：{passed} 个通过，随后有失败 — 快速检查（{target}）",
    "Stuck? press h for a hint": "卡住了？按 h 看提示",
    "Stuck? nox -s hint -- {kata}":
        "题目（中文）：nox -s task -- {kata}　卡住了？nox -s hint -- {kata}",
    "  ✗ rules: ": "  ✗ 规则：",
    "  not started: {names}": "  还没写：{names}",
    "  Open {target}, read the docstrings and replace each TODO.":
        "  打开 {target}，读 docstring，把每个 TODO 换成你的实现。",
    "  Open {target}, read the docstrings and replace each TODO, then save.":
        "  打开 {target}，读 docstring，把每个 TODO 换成你的实现，然后保存。",
    " (timed out)": "（超时）",
    " (error)": "（出错）",
    " (and {n} more with the same message)": "（另有 {n} 个同样的报错）",
    "minimal example:": "最小反例：",
    "likely mistake: ": "可能的错误：",
    "also failing: {names}": "还有失败：{names}",
    " (still TODO: {names})": "（还有 TODO：{names}）",
    "  … {n} tests not started{todo}: {names}": "  … {n} 个测试还没开始{todo}：{names}",
    "  · {n} not covered: {reason}": "  · {n} 个未覆盖：{reason}",
    "  Fix the first failure, then grade again.": "  先修第一个失败，再评测一次。",
    "  Fix the first failure, then save again.": "  先修第一个失败，再保存一次。",
    "  Done. Time yourself next: nox -s practice -- {kata}":
        "  完成。下一步限时再写一遍：nox -s practice -- {kata}",
    "… ({n} more lines)": "…（还有 {n} 行）",
    "crashed": "崩溃",
    "not started": "还没开始",
    "passing": "通过",
    "failing": "未通过",
    "rules broken": "违反规则",
    "{passed}/{graded} passing": "{passed}/{graded} 通过",
    "Grade one: nox -s <id>    Hints: nox -s hint -- <id>":
        "评测：nox -s <id>    提示：nox -s hint -- <id>",
    # hints and the task
    "## Follow-up questions": "## 追问",
    "(hint {level} of {total}; run the same command again for the next one)":
        "（提示 {level}/{total}；再运行一次同样的命令看下一条）",
    "(hint {level} of {total}; press h again for the next one)":
        "（提示 {level}/{total}；再按 h 看下一条）",
    "(that was the last hint; nox -s hint -- {kata} --all shows them all)":
        "（这是最后一条提示；nox -s hint -- {kata} --all 显示全部）",
    "(all {total} hints shown; the reference, once you pass: nox -s solution -- {kata})":
        "（{total} 条提示已全部显示；通过之后可看参考答案：nox -s solution -- {kata}）",
    "Your file: {path}   Grade: nox -s {kata}   Stuck? nox -s hint -- {kata}":
        "你的文件：{path}   评测：nox -s {kata}   卡住了？nox -s hint -- {kata}",
    # practice
    "d done · h hint · q give up": "d 完成 · h 提示 · q 放弃",
    "h hint · g grade now · q give up": "h 提示 · g 立即评测 · q 放弃",
    "Practice: {kata} — {title}": "限时练习：{kata} — {title}",
    "  {clock} on the clock (target {minutes} min). Your file: {path}":
        "  计时 {clock}（目标 {minutes} 分钟）。你的文件：{path}",
    "  (your previous practice file was saved to {backup})":
        "  （上一次的练习文件已备份到 {backup}）",
    "  Blind, like a whiteboard: nothing is graded until you press d (done) or the time is up.":
        "  盲写模式，和白板面试一样：按 d（完成）或时间到之前不会评测。",
    "  Edit it in your editor; every save is graded. The clock stops when all tests pass.":
        "  用你的编辑器写，每次保存都会评测。全部测试通过时停表。",
    "  Keys: {keys} (or type the word and Enter)   Ctrl-C: stop, keeping your file":
        "  按键：{keys}（也可以输入单词后回车）   Ctrl-C：停止，文件保留",
    "{clock} left": "剩 {clock}",
    "{clock} over time": "超时 {clock}",
    "{n} run": "评测 {n} 次",
    "{n} runs": "评测 {n} 次",
    "⏱ {n} minute left": "⏱ 还剩 {n} 分钟",
    "⏱ {n} minutes left": "⏱ 还剩 {n} 分钟",
    "⏱ Time is up. Grading your file once, as it is now…": "⏱ 时间到。按文件现在的样子评测一次…",
    "⏱ Time is up ({clock} on the clock). Keep going: the overtime is recorded (up to another "
    "{clock}). q gives up.":
        "⏱ 时间到（计时 {clock}）。可以继续写，超时会被记录（最多再给 {clock}）。按 q 放弃。",
    "⏱ {clock} of overtime used up. Grading your file one last time…":
        "⏱ {clock} 的超时已用完。最后评测一次…",
    "Grading your file once, as it is now…": "按文件现在的样子评测一次…",
    "All quick checks pass; running the full grade…": "快速检查全部通过，开始完整评测…",
    "✓ {kata}: green in {clock} — inside the {minutes}-minute target":
        "✓ {kata}：{clock} 全部通过 — 在 {minutes} 分钟目标之内",
    "✓ {kata}: green in {clock} — over the {minutes}-minute target":
        "✓ {kata}：{clock} 全部通过 — 超出 {minutes} 分钟目标",
    "not graded": "未评测",
    "✗ {kata}: not green after {clock} ({passed})": "✗ {kata}：{clock} 后仍未通过（{passed}）",
    "· {kata}: stopped after {clock}, recorded as abandoned":
        "· {kata}：{clock} 后停止，记为放弃",
    "· {kata}: stopped after {clock}": "· {kata}：{clock} 后停止",
    "(input closed: no more typed commands; saves are still graded and the clock runs on. "
    "Ctrl-C stops, keeping your file.)":
        "（输入已结束：不再读取命令；保存仍会评测，计时继续。Ctrl-C 停止，文件保留。）",
    "{n} grading run": "评测 {n} 次",
    "{n} grading runs": "评测 {n} 次",
    "{n} hint": "看了 {n} 条提示",
    "{n} hints": "看了 {n} 条提示",
    "  {runs}, {hints} used. Your file is kept: {path}": "  {runs}，{hints}。文件已保留：{path}",
    "  {clock} over; try again later: nox -s practice -- {kata}":
        "  超时 {clock}；过几天再试：nox -s practice -- {kata}",
    "  Try again: nox -s practice -- {kata}   History: nox -s stats -- {kata}":
        "  再试一次：nox -s practice -- {kata}   历史记录：nox -s stats -- {kata}",
    "  History: nox -s stats -- {kata}   Everything: nox -s progress":
        "  历史记录：nox -s stats -- {kata}   全部进度：nox -s progress",
    # watch
    "── {kata} ({index} of {total}): {title}": "── {kata}（第 {index}/{total} 题）：{title}",
    " (polling for changes)": "（轮询检测改动）",
    "Watching {path}{how}: every save is graded. Keys: h hint · g grade now · q quit":
        "正在监视 {path}{how}：每次保存都会评测。按键：h 提示 · g 立即评测 · q 退出",
    "watching {path} · h hint · g grade now · q quit":
        "监视 {path} · h 提示 · g 立即评测 · q 退出",
    "All {n} kata pass.": "{n} 道题全部通过。",
    "All {n} katas pass.": "{n} 道题全部通过。",
    "✓ {kata} passes.": "✓ {kata} 通过。",
    " Next: {kata} ({path})": " 下一题：{kata}（{path}）",
    " Time yourself now: nox -s practice -- <id>, or a mock interview: nox -s mock":
        " 现在可以限时练习：nox -s practice -- <id>，或者来一场模拟面试：nox -s mock",
    # progress and stats
    "LLM katas — progress by {by}": "LLM katas — 按{by}查看进度",
    "track": "方向",
    "seed": "指南章节",
    "kata": "题目",
    "level": "难度",
    "status": "状态",
    "best / target": "最佳 / 目标",
    "hints": "提示",
    "last": "最近",
    "just now": "刚刚",
    "{n} d ago": "{n} 天前",
    "{n} h ago": "{n} 小时前",
    "{n} min ago": "{n} 分钟前",
    "{passing}/{total} passing · by {other}: {totals}":
        "{passing}/{total} 通过 · 按{other}：{totals}",
    "{passing}/{total} passing · by track: {totals}": "{passing}/{total} 通过 · 按方向：{totals}",
    "Next: nox -s watch (re-grade on save) · nox -s practice -- <id> (timed) · "
    "nox -s stats -- <id>":
        "下一步：nox -s watch（保存即评测）· nox -s practice -- <id>（限时）· "
        "nox -s stats -- <id>",
    "LLM katas — progress by the guide's sections ({title})":
        "LLM katas — 按《{title}》的章节查看进度",
    " (no kata yet)": "（还没有题）",
    "面试准备清单 (the guide's preparation checklist; an item ticks when its katas pass)":
        "面试准备清单（对应的题全部通过后打勾）",
    "(no kata covers this yet)": "（暂无对应的题）",
    "{kata} — {title} (target {minutes} min)": "{kata} — {title}（目标 {minutes} 分钟）",
    "  no practice attempts yet: nox -s practice -- {kata}":
        "  还没有练习记录：nox -s practice -- {kata}",
    "when": "时间",
    "mode": "模式",
    "result": "结果",
    "runs": "评测",
    "time to green (│ = target)": "通过用时（│ = 目标）",
    "(not green)": "（未通过）",
    "green": "通过",
    "passed": "通过",
    "failed": "未通过",
    "abandoned": "放弃",
    "running": "进行中",
    "live": "实时",
    "blind": "盲写",
    "mock": "模拟",
    "  {n} attempt, {green} green, {inside} inside the target":
        "  共 {n} 次，{green} 次通过，{inside} 次在目标时间内",
    "  {n} attempts, {green} green, {inside} inside the target":
        "  共 {n} 次，{green} 次通过，{inside} 次在目标时间内",
    "; best {clock}": "；最佳 {clock}",
    # mock interview
    "Mock interview: {n} katas in about {minutes} minutes, blind (graded once each, when you "
    "press d or time is up): {names}":
        "模拟面试：{n} 道题，约 {minutes} 分钟，盲写（每题只评测一次：按 d 或时间到时）：{names}",
    "{kata} ({minutes} min)": "{kata}（{minutes} 分钟）",
    "Score card": "成绩单",
    "tests": "测试",
    "time": "用时",
    "target": "目标",
    "  inside": "  达标",
    "  solved {solved}/{total}, {inside} inside the target time":
        "  解出 {solved}/{total}，{inside} 道在目标时间内",
    "Nothing left to practise: every kata is mastered (green inside its target). "
    "Try nox -s practice -- <id> to beat your best time.":
        "没有需要练的题了：每道题都已在目标时间内通过。"
        "想刷新最佳成绩：nox -s practice -- <id>",
    # solutions, reset, restore, store
    "# {kata}: reference solution{note}": "# {kata}：参考答案{note}",
    " (revealed before passing; recorded)": "（通过前查看，已记录）",
    "{kata}: the reference is shown once the kata passes (nox -s {kata}). Stuck? nox -s hint "
    "-- {kata}. To see it anyway: nox -s solution -- {kata} --reveal (recorded in your "
    "progress).":
        "{kata}：通过之后才显示参考答案（nox -s {kata}）。卡住了？nox -s hint -- {kata}。"
        "一定要现在看：nox -s solution -- {kata} --reveal（会记入你的进度）。",
    "; your previous file is in {backup}": "；原来的文件在 {backup}",
    "{path} is the fresh stub again{saved}.": "{path} 已恢复成初始模板{saved}。",
    " Undo: nox -s restore -- {kata}": " 撤销：nox -s restore -- {kata}",
    "restored {path} from the last backup{saved}.": "已从最近的备份恢复 {path}{saved}。",
    "(progress not recorded: {message})": "（进度没有记录：{message}）",
    # issue 8: live keys while grading, pipe mode, follow-ups, narrow progress, mock clocks, update
    "Stuck? type h and Enter for a hint": "卡住了？输入 h 回车看提示",
    "type {key} and Enter": "输入 {key} 回车",
    "press {key}": "按 {key}",
    "(hint {level} of {total}; type h and Enter again for the next one)":
        "（提示 {level}/{total}；再输入 h 回车看下一条）",
    "(that was the last hint; interview follow-ups: nox -s hint -- {kata} --follow-ups)":
        "（这是最后一条提示；面试追问：nox -s hint -- {kata} --follow-ups）",
    "(the interview follow-up questions, without using a hint: nox -s hint -- {kata} "
    "--follow-ups)":
        "（不用提示、只看面试追问：nox -s hint -- {kata} --follow-ups）",
    "(this kata has no follow-up questions yet)": "（这道题还没有追问）",
    "type done, hint or quit and Enter": "输入 done、hint 或 quit 后回车",
    "type hint, grade or quit and Enter": "输入 hint、grade 或 quit 后回车",
    "⏳ grading {path}… (saving again restarts it; press q to quit)":
        "⏳ 正在评测 {path}…（再次保存会重新开始；按 q 退出）",
    "⏳ grading {path}… (saving again restarts it; type quit and Enter to stop)":
        "⏳ 正在评测 {path}…（再次保存会重新开始；输入 quit 回车停止）",
    "↻ {path} changed while it was graded: grading the new version…":
        "↻ 评测期间 {path} 又改了：改评新版本…",
    "  No terminal: {keys}. Ctrl-C stops, keeping your file.":
        "  没有终端：{keys}。Ctrl-C 停止，文件保留。",
    "⏱ Time is up ({clock} on the clock). Keep going: the overtime is recorded (up to another "
    "{clock}). Typing quit gives up.":
        "⏱ 时间到（计时 {clock}）。可以继续写，超时会被记录（最多再给 {clock}）。输入 quit 放弃。",
    "Watching {path}{how}: every save is graded. Type hint, grade or quit and Enter":
        "正在监视 {path}{how}：每次保存都会评测。输入 hint、grade 或 quit 后回车",
    "watching {path} · type hint, grade or quit": "正在监视 {path} · 输入 hint、grade 或 quit",
    "best/target": "最佳/目标",
    "{n}d ago": "{n} 天前",
    "{n}h ago": "{n} 小时前",
    "{n}min ago": "{n} 分钟前",
    "{kata} ({clock} of its {minutes}-minute target)": "{kata}（{clock}，目标 {minutes} 分钟）",
    "update: {summary}": "更新：{summary}",
    "  your files are kept as they were: {files}": "  你的文件原样保留：{files}",
    "  (copies saved first: {files})": "  （已先备份：{files}）",
    "  new katas: {ids} (nox -s <id> to start)": "  新题目：{ids}（nox -s <id> 开始）",
    "  {kata}: its stub changed upstream; yours is kept. The new stub: nox -s reset -- {kata} "
    "(your file is backed up first)":
        "  {kata}：上游改了模板，你的文件保留。要新模板：nox -s reset -- {kata}（会先备份你的文件）",
}

//! The templates articles (and the onboarding space) start from, in English and Simplified
//! Chinese.

use parley_proto::ArticleTemplate;

/// The languages templates are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// `en` or `zh` (`zh-CN`, `zh-Hans` too); `None` for anything else.
    pub fn parse(text: &str) -> Option<Lang> {
        match text.to_ascii_lowercase().as_str() {
            "en" | "en-us" | "en-gb" => Some(Lang::En),
            "zh" | "zh-cn" | "zh-hans" | "zh-hans-cn" => Some(Lang::Zh),
            _ => None,
        }
    }
}

/// The templates of the onboarding space, in the order the space lists them.
pub const ONBOARDING: [&str; 4] = [
    "company_rules",
    "department_intro",
    "mentor",
    "training_plan",
];

/// A template's name, title and body in one language.
type Texts = (&'static str, &'static str, &'static str);

/// Every template: id, then its texts in English and in Chinese.
const TEMPLATES: [(&str, [Texts; 2]); 7] = [
    (
        "minutes",
        [
            (
                "Meeting minutes",
                "Minutes: <topic>",
                "## Topic\n\n\n## Time\n\n\n## Attendees\n\n- \n\n## Agenda\n\n1. \n\n## Decisions\n\n- \n\n## Action items\n\n| Action | Owner | Due |\n|---|---|---|\n|  |  |  |\n",
            ),
            (
                "会议纪要",
                "会议纪要：<主题>",
                "## 会议主题\n\n\n## 时间\n\n\n## 参会人\n\n- \n\n## 议程\n\n1. \n\n## 决议\n\n- \n\n## 待办事项\n\n| 事项 | 负责人 | 截止日期 |\n|---|---|---|\n|  |  |  |\n",
            ),
        ],
    ),
    (
        "issue_report",
        [
            (
                "Issue report",
                "Issue: <summary>",
                "## Description\n\nWhat happened, where, and since when.\n\n## Priority\n\nHigh / Medium / Low\n\n## Owner\n\n\n## Deadline\n\n\n## Steps taken\n\n- \n",
            ),
            (
                "问题报告",
                "问题：<概述>",
                "## 问题描述\n\n发生了什么、在哪里、从何时开始。\n\n## 优先级\n\n高 / 中 / 低\n\n## 负责人\n\n\n## 截止日期\n\n\n## 已采取的措施\n\n- \n",
            ),
        ],
    ),
    (
        "project_progress",
        [
            (
                "Project progress",
                "Progress: <project>",
                "## Phase\n\n\n## Tasks\n\n| Task | Owner | Due date | Status |\n|---|---|---|---|\n|  |  |  | Not started / In progress / Done |\n\n## Risks\n\n- \n",
            ),
            (
                "项目进度",
                "项目进度：<项目名称>",
                "## 阶段\n\n\n## 任务\n\n| 任务 | 负责人 | 截止日期 | 状态 |\n|---|---|---|---|\n|  |  |  | 未开始 / 进行中 / 已完成 |\n\n## 风险\n\n- \n",
            ),
        ],
    ),
    (
        "company_rules",
        [
            (
                "Company rules",
                "Company rules",
                "## Working hours\n\n\n## Leave and absence\n\n\n## Expenses\n\n\n## Security and confidentiality\n\n\n## Who to ask\n\n- \n",
            ),
            (
                "公司制度",
                "公司制度",
                "## 工作时间\n\n\n## 请假与考勤\n\n\n## 费用报销\n\n\n## 信息安全与保密\n\n\n## 咨询对象\n\n- \n",
            ),
        ],
    ),
    (
        "department_intro",
        [
            (
                "Department introduction",
                "Our departments",
                "## <Department>\n\nWhat it does, who leads it, and how to reach it.\n\n- Lead: \n- Channel: \n- Located: \n",
            ),
            (
                "部门介绍",
                "部门介绍",
                "## <部门名称>\n\n职责、负责人以及联系方式。\n\n- 负责人：\n- 频道：\n- 地点：\n",
            ),
        ],
    ),
    (
        "mentor",
        [
            (
                "Your mentor",
                "Your mentor",
                "## Who\n\n\n## How to reach them\n\n\n## When you meet\n\nFirst week: every day. First month: weekly.\n",
            ),
            (
                "导师",
                "你的导师",
                "## 导师是谁\n\n\n## 联系方式\n\n\n## 见面安排\n\n第一周：每天；第一个月：每周一次。\n",
            ),
        ],
    ),
    (
        "training_plan",
        [
            (
                "Training plan",
                "Training plan",
                "## First week\n\n- [ ] \n\n## First month\n\n- [ ] \n\n## First three months\n\n- [ ] \n",
            ),
            (
                "培训计划",
                "培训计划",
                "## 第一周\n\n- [ ] \n\n## 第一个月\n\n- [ ] \n\n## 前三个月\n\n- [ ] \n",
            ),
        ],
    ),
];

/// Every template in `lang`.
pub fn all(lang: Lang) -> Vec<ArticleTemplate> {
    TEMPLATES
        .iter()
        .filter_map(|(id, _)| of(id, lang))
        .collect()
}

/// One template in `lang`; `None` for an unknown id.
pub fn of(id: &str, lang: Lang) -> Option<ArticleTemplate> {
    let (id, texts) = TEMPLATES.iter().find(|(t, _)| *t == id)?;
    let (name, title, body) = texts[match lang {
        Lang::En => 0,
        Lang::Zh => 1,
    }];
    Some(ArticleTemplate {
        id: (*id).to_string(),
        name: name.to_string(),
        title: title.to_string(),
        body: body.to_string(),
    })
}

/// The names of every template, for an error message.
pub fn ids() -> String {
    TEMPLATES
        .iter()
        .map(|(id, _)| *id)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_in_both_languages() {
        for lang in [Lang::En, Lang::Zh] {
            let all = all(lang);
            assert_eq!(all.len(), 7);
            assert!(all
                .iter()
                .all(|t| !t.body.is_empty() && !t.title.is_empty()));
        }
        for id in ONBOARDING {
            assert!(of(id, Lang::Zh).is_some(), "{id}");
        }
        assert!(of("minutes", Lang::Zh).unwrap().body.contains("待办事项"));
        assert_eq!(Lang::parse("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::parse("fr"), None);
    }
}

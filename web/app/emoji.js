// The emoji picker: a few hundred common emoji by category, with a search by English and
// Chinese words for the common ones, for the composer and for reactions.

import { t } from "./i18n.js";
import { h, mount, dialog } from "./ui.js";

// --- Emoji ---------------------------------------------------------------------------------

/** Common emoji by category, as the picker shows them. */
const EMOJI = [
  ["smileys", `😀 😃 😄 😁 😆 😅 🤣 😂 🙂 🙃 😉 😊 😇 🥰 😍 🤩 😘 😗 😚 😙 😋 😛 😜 🤪 😝 🤑 🤗 🤭 🤫 🤔 🤐 🤨
    😐 😑 😶 😏 😒 🙄 😬 😌 😔 😪 🤤 😴 😷 🤒 🤕 🤢 🤮 🤧 🥵 🥶 🥴 😵 🤯 🤠 🥳 😎 🤓 🧐 😕 😟 🙁 😮 😯 😲 😳
    🥺 😦 😧 😨 😰 😥 😢 😭 😱 😖 😣 😞 😓 😩 😫 🥱 😤 😡 😠 🤬 😈 👿 💀 💩 🤡 👻 👽 🤖 😺 😸 😹 😻 😼 😽 🙀 😿 😾 🙈 🙉 🙊`],
  ["people", `👋 🤚 🖐️ ✋ 🖖 👌 🤏 ✌️ 🤞 🤟 🤘 🤙 👈 👉 👆 👇 ☝️ 👍 👎 ✊ 👊 🤛 🤜 👏 🙌 👐 🤲 🤝 🙏 ✍️ 💅 💪
    🧠 👀 👁️ 👅 👄 👶 🧒 👦 👧 🧑 👨 👩 🧓 👴 👵 🙋 🙆 🙅 🤷 🤦 🙇 💁 🧑‍💻 👨‍💻 👩‍💻 🧑‍🏫 🧑‍🔧 🧑‍🍳 🧑‍⚕️ 🏃 🚶 💃 🕺 👯`],
  ["nature", `🐶 🐱 🐭 🐹 🐰 🦊 🐻 🐼 🐨 🐯 🦁 🐮 🐷 🐸 🐵 🐔 🐧 🐦 🐤 🦆 🦅 🦉 🐺 🐴 🦄 🐝 🐛 🦋 🐌 🐞 🐢 🐍
    🐙 🦀 🐠 🐟 🐬 🐳 🦈 🐊 🐘 🦒 🐪 🐄 🐑 🐕 🐈 🌵 🎄 🌲 🌳 🌴 🌱 🌿 🍀 🍁 🍂 🌷 🌹 🌺 🌸 🌼 🌻 🌞 🌝 🌚 🌙 ⭐
    🌟 ✨ ⚡ 🔥 🌈 ☀️ ⛅ ☁️ 🌧️ ⛈️ ❄️ ☃️ 💧 🌊`],
  ["food", `🍏 🍎 🍐 🍊 🍋 🍌 🍉 🍇 🍓 🍒 🍑 🥭 🍍 🥥 🥝 🍅 🍆 🥑 🥦 🥒 🌶️ 🌽 🥕 🥔 🍠 🥐 🍞 🥖 🧀 🥚 🍳 🥓
    🥩 🍗 🍖 🌭 🍔 🍟 🍕 🥪 🌮 🌯 🥗 🍝 🍜 🍲 🍛 🍣 🍱 🥟 🍤 🍙 🍚 🍘 🥮 🍢 🍡 🍧 🍨 🍦 🥧 🧁 🍰 🎂 🍮 🍭 🍬
    🍫 🍿 🍩 🍪 🥛 🍼 ☕ 🍵 🧋 🥤 🍶 🍺 🍻 🥂 🍷 🥃 🍸 🍹`],
  ["activities", `🎉 🎊 🎈 🎁 🎀 🧧 🏮 🎆 🎇 🎐 ⚽ 🏀 🏈 ⚾ 🎾 🏐 🏉 🎱 🏓 🏸 ⛳ 🏹 🎣 🥊 🥋 ⛸️ 🎿 🏂 🏋️ 🚴 🏊 🏆
    🥇 🥈 🥉 🏅 🎖️ 🎫 🎪 🎭 🎨 🎬 🎤 🎧 🎼 🎹 🥁 🎷 🎺 🎸 🎻 🎲 🎯 🎳 🎮 🧩`],
  ["travel", `🚗 🚕 🚌 🚎 🚓 🚑 🚒 🚚 🚲 🛵 🏍️ 🚨 🚥 🚦 🚧 ⚓ ⛵ 🚤 🚢 ✈️ 🛫 🛬 🚁 🚀 🛸 🚄 🚅 🚇 🚉 🏠 🏢 🏥
    🏦 🏨 🏫 🏭 🏯 🗼 🗽 ⛩️ 🌏 🗺️ 🏖️ 🏔️ ⛺`],
  ["objects", `⌚ 📱 💻 ⌨️ 🖥️ 🖨️ 🖱️ 💾 💿 📷 📹 🎥 📞 ☎️ 📺 📻 🎙️ ⏰ ⏳ ⌛ 📡 🔋 🔌 💡 🔦 🕯️ 🧯 💸 💵 💴 💰 💳
    💎 ⚖️ 🔧 🔨 🛠️ ⚙️ 🔩 🧰 🧲 💣 🛡️ 🔮 💊 💉 🧪 🌡️ 🧹 🧺 🧻 🚪 🛏️ 🛋️ 🚿 🛁 🔑 🗝️ 🎒 👓 🕶️ 👔 👕 👖
    👗 👟 👑 🎩 🧢 ✉️ 📧 📨 📩 📤 📥 📦 📫 📮 📝 📁 📂 📅 📆 🗓️ 📇 📈 📉 📊 📋 📌 📍 📎 🖇️ 📏 📐 ✂️ 🗃️
    🗄️ 🗑️ 🔒 🔓 🔐 📒 📕 📖 📗 📘 📙 📚 🔖 🔗 ✏️ 🖊️ 🖋️ 🖌️ 🖍️ 🔍 🔎`],
  ["symbols", `❤️ 🧡 💛 💚 💙 💜 🖤 🤍 🤎 💔 ❣️ 💕 💞 💓 💗 💖 💘 💝 💯 💢 💥 💫 💦 💨 💬 💭 🗯️ 💤 ✅ ☑️ ✔️ ❌
    ❎ ➕ ➖ ➗ ✖️ ❓ ❔ ❗ ❕ ‼️ ⁉️ ⚠️ 🚫 ⛔ 📛 🔴 🟠 🟡 🟢 🔵 🟣 ⚫ ⚪ 🟥 🟩 🟦 🔶 🔷 🔺 🔻 ⬆️ ⬇️ ⬅️ ➡️ ↩️
    ↪️ 🔄 🔁 ▶️ ⏸️ ⏹️ ⏭️ ⏮️ 🔔 🔕 📣 📢 ♻️ 🆗 🆕 🆒 🆓 🆙 🔝 🔜 ㊗️ ㊙️ 🉐 🏁 🚩 ©️ ®️ ™️`],
].map(([category, list]) => [category, list.trim().split(/\s+/)]);

/** What the search box finds the common ones by, in English and Chinese. */
const KEYWORDS = new Map(`😀 grin smile happy 笑 开心 微笑|😂 joy laugh tears lol 笑哭 哈哈|🤣 rofl laugh 大笑 笑|😊 blush smile 微笑 开心
|😍 love heart eyes 爱 喜欢|🥰 love 爱 喜欢|😘 kiss 亲 飞吻|😉 wink 眨眼|😎 cool sunglasses 酷|🤔 thinking hmm 思考 想
|😅 sweat phew 汗 尴尬|😭 cry sob 哭 大哭|😢 sad cry 难过 哭|😡 angry mad 生气 愤怒|😱 scream shock 惊恐 吓|😴 sleep tired 睡觉 困
|🤯 mind blown 震惊|🥳 party celebrate 庆祝 派对|😬 grimace awkward 尴尬|🙄 eyeroll 白眼|🤗 hug 拥抱|😷 mask sick 口罩 生病
|🤒 sick fever 发烧 生病|😇 angel innocent 天使|🙂 smile 微笑|🙃 upside down 倒脸|😐 neutral speechless 无语|🤡 clown 小丑
|💩 poop 便便|🙈 see no evil 捂眼 不看|👋 wave hello bye 挥手 你好 再见|👍 thumbs up yes ok like good 赞 好 同意
|👎 thumbs down no dislike 踩 不好 反对|👌 ok okay 好的|✌️ victory peace 胜利 耶|🤞 fingers crossed luck 祈祷 好运
|👏 clap applause 鼓掌|🙌 hooray raise hands 欢呼|🙏 pray please thanks 谢谢 拜托 祈祷|💪 strong muscle 加油 强
|🤝 handshake deal 握手 合作|✍️ write 写|👀 eyes look 看 关注|🧠 brain smart 脑 聪明|🤷 shrug 不知道 耸肩|🤦 facepalm 捂脸
|🙋 raise hand 举手|🧑‍💻 developer coder 程序员 开发|🐶 dog 狗|🐱 cat 猫|🐼 panda 熊猫|🐛 bug 虫|🦄 unicorn 独角兽
|🌸 blossom flower 花 樱花|🌹 rose flower 玫瑰 花|🌞 sun 太阳|🌙 moon night 月亮 晚上|⭐ star 星|✨ sparkles 闪亮
|⚡ lightning fast 闪电 快|🔥 fire hot lit 火 热|🌈 rainbow 彩虹|☀️ sunny 晴|❄️ snow cold 雪 冷|🍎 apple 苹果
|🍉 watermelon 西瓜|🍕 pizza 披萨|🍔 burger 汉堡|🍜 noodles ramen 面条|🍚 rice 米饭 饭|🥟 dumpling 饺子|🥮 mooncake 月饼
|🎂 cake birthday 蛋糕 生日|🍰 cake 蛋糕|☕ coffee 咖啡|🍵 tea 茶|🧋 bubble tea 奶茶|🍺 beer 啤酒|🍻 cheers beers 干杯
|🥂 cheers toast 干杯|🏆 trophy win 奖杯 冠军|🥇 first gold medal 第一 金牌|🎯 target goal 目标|🎮 game 游戏
|🎧 headphones 耳机|🎤 mic sing 麦克风 唱歌|🚀 rocket launch ship 火箭 发布 上线|✈️ plane travel 飞机 出差|🚗 car 车 汽车
|🏠 home house 家 房子|🏢 office 办公楼 公司|🎉 party tada celebrate congrats 庆祝 恭喜|🎊 confetti 彩带 庆祝
|🎁 gift present 礼物|🧧 red envelope 红包|🏮 lantern 灯笼|🎆 fireworks 烟花|💻 laptop computer 电脑|📱 phone mobile 手机
|⏰ alarm clock 闹钟|⏳ hourglass wait 沙漏 等待|💡 idea bulb 想法 主意 灯泡|💰 money 钱|🔧 wrench fix 扳手 修
|🛠️ tools 工具|⚙️ gear settings 设置 齿轮|🔑 key 钥匙|📝 memo note 笔记 备忘|📅 calendar date 日历 日期
|📈 chart up growth 增长 上升|📉 chart down 下降|📊 chart stats 统计 图表|📌 pin 置顶 图钉|📎 paperclip attach 回形针 附件
|🔒 lock 锁|📦 package box ship 包裹 发货|📚 books 书|🔗 link 链接|🔍 search 搜索 查找|✏️ pencil edit 铅笔 编辑
|❤️ heart love red 爱心 红心 爱|💔 broken heart 心碎|💯 hundred perfect 一百 满分|💥 boom 爆炸|💬 speech comment 对话 评论
|💤 zzz sleep 睡觉|✅ check done yes 完成 对 好|✔️ check 对|❌ cross no wrong 错 不 否|❓ question 问题 疑问
|❗ exclamation important 重要 感叹|⚠️ warning 警告 注意|🚫 forbidden no 禁止|🔴 red 红|🟢 green 绿|➕ plus add 加
|🔄 refresh sync 刷新 同步|🔔 bell notify 铃 通知|📣 megaphone announce 喇叭 公告|🆗 ok 好的|🆕 new 新`
  .split("|").map((entry) => {
    const [emoji, ...words] = entry.trim().split(/\s+/);
    return [emoji, words.join(" ")];
  }));

/**
 * The emoji picker, in a dialog: a search box (English or Chinese words) over the emoji by
 * category, each category one jump away; arrows move in the grid. Resolves with the emoji
 * picked, or null.
 */
export function pickEmoji(title) {
  return dialog(title, (close) => {
    const body = h("div", { class: "emoji-body" });
    const cell = (emoji) => {
      const words = KEYWORDS.get(emoji);
      return h("button", {
        type: "button", class: "emoji-cell", dataset: { emoji },
        title: words || null, "aria-label": words ? `${emoji} ${words}` : emoji,
        onclick: () => close(emoji),
      }, emoji);
    };
    const search = h("input", {
      type: "search", class: "emoji-search", placeholder: t("emoji.search"), "aria-label": t("emoji.search"),
      oninput: () => show(),
      onkeydown: (e) => {
        const first = body.querySelector(".emoji-cell");
        if (e.key === "Enter" && first) {
          e.preventDefault();
          close(first.dataset.emoji);
        } else if (e.key === "ArrowDown" && first) {
          e.preventDefault();
          first.focus();
        }
      },
    });
    const show = () => {
      const query = search.value.trim().toLocaleLowerCase();
      if (!query) {
        mount(body, EMOJI.map(([category, list]) => h("section", { class: "emoji-group", id: `emoji-${category}` },
          h("h3", null, t(`emoji.${category}`)),
          h("div", { class: "emoji-grid", role: "group", "aria-label": t(`emoji.${category}`) }, list.map(cell)))));
        return;
      }
      const found = [...KEYWORDS].filter(([, words]) => words.includes(query)).map(([emoji]) => emoji);
      mount(body, found.length ? h("div", { class: "emoji-grid", role: "group", "aria-label": t("emoji.results") }, found.map(cell))
        : h("p", { class: "muted" }, t("emoji.none")));
    };
    // Arrows move between the cells as laid out: across, and to the nearest cell above or below.
    body.addEventListener("keydown", (e) => {
      const cells = [...body.querySelectorAll(".emoji-cell")];
      const at = cells.indexOf(document.activeElement);
      if (at < 0 || !["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].includes(e.key)) return;
      e.preventDefault();
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        cells[Math.max(0, Math.min(cells.length - 1, at + (e.key === "ArrowRight" ? 1 : -1)))].focus();
        return;
      }
      const from = cells[at].getBoundingClientRect();
      const down = e.key === "ArrowDown";
      const row = cells.filter((c) => (down ? c.getBoundingClientRect().top > from.bottom - 2 : c.getBoundingClientRect().bottom < from.top + 2));
      const rowTop = down ? Math.min(...row.map((c) => c.getBoundingClientRect().top)) : Math.max(...row.map((c) => c.getBoundingClientRect().top));
      const next = row.filter((c) => c.getBoundingClientRect().top === rowTop)
        .sort((x, y) => Math.abs(x.getBoundingClientRect().left - from.left) - Math.abs(y.getBoundingClientRect().left - from.left))[0];
      if (next) next.focus();
      else if (!down) search.focus();
    });
    const tabs = h("div", { class: "emoji-tabs", role: "group", "aria-label": t("emoji.categories") },
      EMOJI.map(([category, list]) => h("button", {
        type: "button", class: "icon", title: t(`emoji.${category}`), "aria-label": t(`emoji.${category}`),
        onclick: () => {
          search.value = "";
          show();
          body.querySelector(`#emoji-${category}`).scrollIntoView({ block: "start" });
        },
      }, list[0])));
    show();
    return h("div", { class: "emoji-picker" }, search, tabs, body,
      h("div", { class: "dialog-actions" }, h("button", { type: "button", onclick: () => close(null) }, t("close"))));
  });
}

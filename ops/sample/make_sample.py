#!/usr/bin/python3
"""make_sample.py: writes the bundled sample data of assay (ops/sample/*.jsonl).

The items are composed from the small hand-written table below (disease, its
typical history, signs, findings and treatment), so the sample stays consistent:
every case record's diagnosis is the disease whose findings it describes, and every
exam question's gold letter points at the right option. Run it again after editing
the table: ops/sample/make_sample.py
"""
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))

# name, ICD-10 code, chief complaint, history, signs, findings, treatment, department
DISEASES = [
    ("急性阑尾炎", "K35.8", "转移性右下腹痛1天", "脐周疼痛后转移至右下腹，伴恶心", "右下腹麦氏点压痛、反跳痛", "血白细胞12.5×10^9/L，中性粒细胞85%", "阑尾切除术", "普外科"),
    ("社区获得性肺炎", "J18.9", "发热、咳嗽、咳黄痰3天", "受凉后出现寒战高热，体温最高39.2℃", "右下肺可闻及湿啰音", "胸片示右下肺片状渗出影，CRP 86mg/L", "头孢曲松抗感染", "呼吸内科"),
    ("2型糖尿病", "E11.9", "口干、多饮、多尿2个月", "体重下降5kg，无酮症病史", "BMI 27.8，双足背动脉搏动正常", "空腹血糖11.2mmol/L，糖化血红蛋白8.9%", "二甲双胍口服", "内分泌科"),
    ("原发性高血压", "I10", "反复头晕1年", "多次测血压高于150/95mmHg，父亲有类似病史", "血压168/102mmHg，心界不大", "心电图示左室高电压，尿常规正常", "氨氯地平降压", "心血管内科"),
    ("急性心肌梗死", "I21.9", "持续胸骨后压榨样疼痛2小时", "含服硝酸甘油不能缓解，伴大汗", "血压96/60mmHg，心率108次/分", "心电图V1-V4导联ST段弓背向上抬高，肌钙蛋白I 12ng/mL", "急诊冠状动脉介入治疗", "心血管内科"),
    ("缺铁性贫血", "D50.9", "乏力、活动后心悸半年", "月经量多2年", "面色苍白，指甲呈匙状", "血红蛋白78g/L，MCV 68fL，血清铁蛋白6ng/mL", "口服硫酸亚铁", "血液科"),
    ("胆囊结石伴急性胆囊炎", "K80.0", "右上腹痛伴发热1天", "进食油腻后出现右上腹绞痛，向右肩背部放射", "Murphy征阳性", "B超示胆囊增大，壁厚毛糙，腔内多发强回声伴声影", "腹腔镜胆囊切除术", "肝胆外科"),
    ("甲状腺功能亢进症", "E05.9", "心悸、怕热、多汗3个月", "易激动，食欲亢进而体重下降", "甲状腺II度弥漫性肿大，双手细颤", "FT3、FT4升高，TSH 0.01mIU/L", "甲巯咪唑口服", "内分泌科"),
    ("慢性阻塞性肺疾病急性加重", "J44.1", "反复咳嗽咳痰10年，气促加重3天", "吸烟40年，每年冬季发作", "桶状胸，双肺呼吸音低，散在哮鸣音", "肺功能FEV1/FVC 0.55，血气PaCO2 52mmHg", "支气管扩张剂雾化吸入", "呼吸内科"),
    ("脑梗死", "I63.9", "突发右侧肢体无力4小时", "晨起发现言语不清，既往高血压10年", "右侧肢体肌力3级，右侧巴氏征阳性", "头颅MRI弥散加权成像示左侧基底节区高信号", "阿替普酶静脉溶栓", "神经内科"),
    ("消化性溃疡", "K27.9", "反复上腹痛2年，加重1周", "疼痛多于空腹时出现，进食后缓解", "上腹部轻压痛", "胃镜示十二指肠球部溃疡，幽门螺杆菌阳性", "质子泵抑制剂联合抗幽门螺杆菌治疗", "消化内科"),
    ("急性胰腺炎", "K85.9", "暴饮暴食后上腹剧痛8小时", "疼痛向腰背部放射，伴频繁呕吐", "上腹压痛，肠鸣音减弱", "血淀粉酶1250U/L，CT示胰腺肿胀伴周围渗出", "禁食、补液、抑酶治疗", "消化内科"),
    ("尿路感染", "N39.0", "尿频、尿急、尿痛2天", "无发热，近期饮水少", "耻骨上区轻压痛，肾区无叩痛", "尿白细胞满视野，亚硝酸盐阳性", "左氧氟沙星口服", "泌尿外科"),
    ("支气管哮喘", "J45.9", "发作性喘息5年，再发1天", "接触花粉后出现，夜间加重", "双肺满布呼气相哮鸣音", "支气管舒张试验阳性，血嗜酸性粒细胞升高", "吸入糖皮质激素联合长效β2受体激动剂", "呼吸内科"),
    ("类风湿关节炎", "M06.9", "双手多关节肿痛6个月", "晨僵超过1小时", "双手近端指间关节对称性肿胀、压痛", "类风湿因子和抗CCP抗体阳性，血沉增快", "甲氨蝶呤口服", "风湿免疫科"),
    ("肺结核", "A16.2", "咳嗽、午后低热2个月", "夜间盗汗，体重下降", "右上肺可闻及少许湿啰音", "胸部CT示右上肺空洞影，痰抗酸杆菌涂片阳性", "异烟肼、利福平、吡嗪酰胺、乙胺丁醇四联抗结核", "感染科"),
    ("急性肾小球肾炎", "N00.9", "眼睑水肿、尿色加深1周", "2周前有咽痛史", "血压150/95mmHg，眼睑及双下肢水肿", "尿红细胞++，尿蛋白+，补体C3降低，ASO升高", "卧床休息、限盐、利尿", "肾内科"),
    ("带状疱疹", "B02.9", "左侧胸背部疼痛伴皮疹3天", "起病前有局部刺痛", "左侧胸背部沿肋间神经分布的簇集性水疱，不过中线", "血常规大致正常", "阿昔洛韦抗病毒", "皮肤科"),
    ("痛风", "M10.9", "夜间突发右足第一跖趾关节红肿热痛1天", "发病前晚大量饮酒并进食海鲜", "右足第一跖趾关节红肿、皮温高、触痛明显", "血尿酸560μmol/L", "秋水仙碱口服", "风湿免疫科"),
    ("心房颤动", "I48.9", "阵发性心悸1年", "发作时伴胸闷，持续数小时后自行缓解", "心律绝对不齐，第一心音强弱不等，脉搏短绌", "心电图P波消失，代之以f波，RR间期绝对不等", "利伐沙班抗凝", "心血管内科"),
    ("慢性心力衰竭", "I50.9", "活动后气短2年，双下肢水肿1周", "夜间需高枕卧位", "颈静脉怒张，双肺底湿啰音，双下肢凹陷性水肿", "NT-proBNP 3200pg/mL，超声心动图示左室射血分数35%", "利尿剂、ACEI及β受体阻滞剂", "心血管内科"),
    ("急性胃肠炎", "K52.9", "腹泻、呕吐半天", "进食隔夜饭菜后出现，稀水样便6次", "脐周轻压痛，肠鸣音活跃", "便常规白细胞少量，血钾3.4mmol/L", "口服补液盐", "消化内科"),
    ("肝硬化", "K74.6", "腹胀、乏力3个月", "乙肝病史15年，未规律治疗", "肝掌、蜘蛛痣，移动性浊音阳性", "白蛋白28g/L，B超示肝脏缩小、表面呈结节状，脾大", "限钠、利尿、抗病毒治疗", "消化内科"),
    ("偏头痛", "G43.9", "反复发作性左侧搏动性头痛5年", "发作前有闪光暗点，畏光畏声", "神经系统查体无异常", "头颅CT未见异常", "发作期曲普坦类药物", "神经内科"),
    ("骨质疏松症", "M81.9", "腰背痛半年，身高变矮3cm", "绝经15年", "胸腰椎叩击痛", "双能X线骨密度T值-3.0", "钙剂、维生素D及双膦酸盐", "内分泌科"),
    ("急性上呼吸道感染", "J06.9", "鼻塞、流涕、咽痛2天", "受凉后出现，伴低热", "咽部充血，扁桃体无肿大", "血白细胞正常，淋巴细胞比例偏高", "对症治疗、多饮水休息", "呼吸内科"),
    ("肾结石", "N20.0", "突发左侧腰部绞痛3小时", "疼痛向会阴部放射，伴恶心", "左肾区叩击痛", "尿红细胞++，CT示左肾盂内高密度影", "解痉止痛，体外冲击波碎石", "泌尿外科"),
    ("腰椎间盘突出症", "M51.2", "腰痛伴右下肢放射痛1个月", "久坐后加重，咳嗽时疼痛加剧", "直腿抬高试验右侧40°阳性", "腰椎MRI示L4/5椎间盘向右后方突出", "卧床休息、非甾体抗炎药，必要时手术", "骨科"),
    ("系统性红斑狼疮", "M32.9", "面部红斑伴关节痛2个月", "日晒后皮疹加重，反复口腔溃疡", "面颊部蝶形红斑", "抗核抗体1:640，抗双链DNA抗体阳性，补体降低", "糖皮质激素联合羟氯喹", "风湿免疫科"),
    ("甲状腺功能减退症", "E03.9", "乏力、怕冷、体重增加半年", "记忆力减退，便秘", "皮肤干燥，跟腱反射减弱", "TSH 28mIU/L，FT4降低", "左甲状腺素钠替代治疗", "内分泌科"),
]

SEXES = ["男", "女"]

# aliases of the diseases above (for the sample terminology)
ALIASES = {
    "急性阑尾炎": ["阑尾炎"], "社区获得性肺炎": ["CAP", "肺部感染"], "2型糖尿病": ["T2DM", "糖尿病2型"],
    "原发性高血压": ["高血压病", "高血压"], "急性心肌梗死": ["心梗", "AMI"], "缺铁性贫血": ["IDA"],
    "甲状腺功能亢进症": ["甲亢"], "慢性阻塞性肺疾病急性加重": ["AECOPD", "慢阻肺急性加重"],
    "脑梗死": ["脑梗塞", "缺血性脑卒中"], "消化性溃疡": ["溃疡病"], "急性胰腺炎": ["胰腺炎"],
    "尿路感染": ["泌尿系感染"], "支气管哮喘": ["哮喘"], "类风湿关节炎": ["RA"], "肺结核": ["结核病"],
    "带状疱疹": ["缠腰龙"], "心房颤动": ["房颤"], "慢性心力衰竭": ["心衰", "心功能不全"],
    "肝硬化": ["肝硬变"], "系统性红斑狼疮": ["SLE", "红斑狼疮"], "甲状腺功能减退症": ["甲减"],
    "腰椎间盘突出症": ["腰突症"], "急性上呼吸道感染": ["上感", "感冒"],
}

CHAPTERS = {"A": "某些传染病和寄生虫病", "B": "某些传染病和寄生虫病", "D": "血液及造血器官疾病",
            "E": "内分泌、营养和代谢疾病", "G": "神经系统疾病", "I": "循环系统疾病",
            "J": "呼吸系统疾病", "K": "消化系统疾病", "M": "肌肉骨骼系统和结缔组织疾病",
            "N": "泌尿生殖系统疾病"}


def case_record(i, d):
    name, code, cc, hist, signs, finds, treat, dept = d
    rnd = random.Random(i)
    age = rnd.randint(24, 78)
    sex = rnd.choice(SEXES)
    text = (f"主诉：{cc}。\n"
            f"现病史：患者{sex}，{age}岁，{hist}。门诊以“{name}”收入{dept}。\n"
            f"既往史：否认肝炎、结核等传染病史，否认药物过敏史。\n"
            f"体格检查：T 36.{rnd.randint(5, 9)}℃，P {rnd.randint(70, 100)}次/分，{signs}。\n"
            f"辅助检查：{finds}。\n"
            f"入院诊断：{name}\n"
            f"诊疗经过：入院后予{treat}，症状好转。\n"
            f"出院医嘱：按时服药，门诊随访。")
    return {"id": f"case_{i:03d}", "source": "assay_sample", "text": text,
            "diagnosis": name, "gold_codes": [code], "category": "疾病诊断"}


def mcq(i, d, pool):
    name, code, cc, hist, signs, finds, treat, dept = d
    rnd = random.Random(1000 + i)
    distract = rnd.sample([x for x in pool if x[0] != name], 4)
    opts = [name] + [x[0] for x in distract]
    rnd.shuffle(opts)
    letters = "ABCDE"
    options = {letters[k]: opts[k] for k in range(5)}
    answer = letters[opts.index(name)]
    q = f"患者，{cc}，{hist}。查体：{signs}。辅助检查：{finds}。最可能的诊断是"
    return {"id": f"mcq_{i:03d}", "source": "assay_sample", "question": q,
            "options": options, "answer": answer, "category": "疾病诊断"}


def mcq_treat(i, d, pool):
    name, code, cc, hist, signs, finds, treat, dept = d
    rnd = random.Random(2000 + i)
    distract = rnd.sample([x for x in pool if x[0] != name and x[6] != treat], 3)
    opts = [treat] + [x[6] for x in distract]
    rnd.shuffle(opts)
    letters = "ABCD"
    options = {letters[k]: opts[k] for k in range(4)}
    answer = letters[opts.index(treat)]
    return {"id": f"mcq_t{i:03d}", "source": "assay_sample",
            "question": f"{name}患者，首选的治疗措施是", "options": options,
            "answer": answer, "category": "药物"}


OPEN_TEMPLATES = [
    ("治疗方案", "医生您好，我被诊断为{n}，请问一般怎么治疗？", "{n}的常用治疗包括{t}，具体方案需要由{dept}医生结合病情制定，并定期复查。"),
    ("注意事项", "家里老人得了{n}，平时生活上需要注意些什么？", "{n}患者应遵医嘱规律治疗，注意休息和饮食，出现{cc}加重等情况要及时到{dept}就诊。"),
    ("病情诊断", "最近{cc}，会不会是{n}？需要做哪些检查？", "{cc}可见于多种疾病，{n}是可能之一，建议到{dept}就诊，完善{f}等检查明确诊断。"),
]


def open_q(i, d):
    name, code, cc, hist, signs, finds, treat, dept = d
    intent, q, a = OPEN_TEMPLATES[i % len(OPEN_TEMPLATES)]
    fmt = dict(n=name, t=treat, dept=dept, cc=cc, f=finds.split("，")[0])
    return {"id": f"open_{i:03d}", "source": "assay_sample", "question": q.format(**fmt),
            "reference_answer": a.format(**fmt), "intent": intent, "category": "other"}


def write(name, rows):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def terminology():
    """A small terminology in the TSV layout `assay terms load` reads: the sample
    diseases with a chapter / block / category / subcategory hierarchy, aliases and
    knowledge-graph treatment edges."""
    tdir = os.path.join(HERE, "terms")
    os.makedirs(tdir, exist_ok=True)
    icd = [("code", "parent_code", "level", "name_zh", "name_en_icd10cm",
            "dagger_asterisk_or_mark", "morphology_code", "source")]
    seen = set()
    def add(code, parent, level, name):
        if code not in seen:
            seen.add(code)
            icd.append((code, parent, level, name, "", "", "", "assay_sample"))
    for d in DISEASES:
        name, code = d[0], d[1]
        letter = code[0]
        chapter = f"{letter}00-{letter}99"
        block = f"{letter}00-{letter}98"
        add(chapter, "", "chapter", CHAPTERS[letter])
        add(block, chapter, "block", CHAPTERS[letter])
        cat = code[:3]
        add(cat, block, "category", name)
        if "." in code:
            add(code, cat, "subcategory", name)
    syn = [("code", "code_system", "standard_name", "alias", "alias_type", "source")]
    bj = [("code", "name_zh")]
    nodes = [("name", "type", "source")]
    edges = [("head", "relation", "tail", "head_type", "tail_type", "source")]
    for d in DISEASES:
        name, code, treat = d[0], d[1], d[6]
        bj.append((code, name))
        nodes.append((name, "疾病", "assay_sample"))
        for a in ALIASES.get(name, []):
            syn.append((code, "clin2.0", name, a, "alias", "assay_sample"))
            syn.append((code, "bj_v601", name, a, "alias", "assay_sample"))
            edges.append((name, "别名", a, "疾病", "疾病", "assay_sample"))
        nodes.append((treat, "治疗方式", "assay_sample"))
        edges.append((name, "治疗方式", treat, "疾病", "治疗方式", "assay_sample"))
        edges.append((name, "就诊科室", d[7], "疾病", "科室", "assay_sample"))
    for fname, rows in (("icd10.tsv", icd), ("icd10_synonyms.tsv", syn), ("icd10_bj_v601.tsv", bj),
                        ("kg_nodes.tsv", nodes), ("kg_edges.tsv", edges)):
        with open(os.path.join(tdir, fname), "w", encoding="utf-8") as f:
            for r in rows:
                f.write("\t".join(r) + "\n")


def answer_key(mcqs):
    """What assay-simllm needs to answer like a model of known skill: the gold
    answer of each sample case (by id) and exam question (by question text), and
    the share of samples it answers correctly (spread over 0.2..0.8)."""
    rows = []
    for i, d in enumerate(DISEASES):
        rows.append({"id": f"case_{i:03d}", "answer": d[0], "accuracy": round(0.2 + 0.6 * ((i * 7) % 10) / 9, 2)})
    for i, q in enumerate(mcqs):
        rows.append({"question": q["question"], "answer": q["answer"],
                     "accuracy": round(0.2 + 0.6 * ((i * 3) % 10) / 9, 2)})
    write("simllm_answer_key.jsonl", rows)


def main():
    write("cases.jsonl", [case_record(i, d) for i, d in enumerate(DISEASES)])
    mcqs = [mcq(i, d, DISEASES) for i, d in enumerate(DISEASES)]
    mcqs += [mcq_treat(i, d, DISEASES) for i, d in enumerate(DISEASES[:12])]
    write("exam_mcq.jsonl", mcqs)
    write("health_questions.jsonl", [open_q(i, d) for i, d in enumerate(DISEASES)])
    terminology()
    answer_key(mcqs)


if __name__ == "__main__":
    main()
